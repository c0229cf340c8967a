`default_nettype none
// Post-processing unit of one output column: bias, requantization, ReLU, saturation.
//
//   y = clip( relu?( shift_right_round(acc + bias, shift, rounding) ), out type )
//
// exactly as codesign.fixedpoint.shift_right_round / FixedType.fit_codes with saturation:
// rounding 0 = TRN (floor), 1 = RND_CONV (half to even, tf.round), 2 = RND (half up);
// the output type has out_bits (1..ACC_BITS) bits, signed or unsigned; an unsigned type with
// saturation is quantized_relu. The result is sign-extended to ACC_BITS. The bias arrives already
// aligned to the accumulator (the compiler shifts it when it fills the bias memory).
//
// Nine pipeline stages (codesign.accel.golden.PPU_LATENCY), each one carry chain or a couple of
// LUT levels deep, so the unit is off the critical path:
//   0 input registers (the accumulators come from the array, the bias from its memory: both far)
//   1 acc + bias (ACC_BITS+2 bits)
//   2 coarse shift (multiples of 8), rounding masks OR-reduced per byte
//   3 shift by 0, 2, 4 or 6, half / sticky flags
//   4 shift by 0 or 1, round-up decision
//   5 floor + rounding increment
//   6 out-of-range bits OR-reduced per byte (masks, no comparator)
//   7 below / above flags                  8 saturation select
// The configuration inputs are quasi-static (they change only between layers): each PPU keeps
// its own registered copy (cfg_* outputs, chained from column to column so the copies stay
// distinct flip-flops that synthesis cannot merge back into one high-fanout net) and the masks
// and limits derived from it in three more registered steps (field decode, thermometer codes,
// masks; no comparator carry chain). They must be stable for PPU_CONFIG_SETUP cycles
// (codesign.accel.golden) before the first valid input at the first PPU of the chain, one more
// per PPU further down (the controller sets them a whole layer ahead).
module accel_ppu #(
    parameter int ACC_BITS = 32
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire [5:0]           shift,
    input  wire [1:0]           rounding,
    input  wire [5:0]           out_bits,
    input  wire                 out_signed,
    input  wire                 relu,
    output logic [5:0]          cfg_shift,        // the registered configuration, for the next PPU
    output logic [1:0]          cfg_rounding,
    output logic [5:0]          cfg_out_bits,
    output logic                cfg_out_signed,
    output logic                cfg_relu,
    input  wire                 in_valid,
    input  wire [ACC_BITS-1:0]  acc,
    input  wire [ACC_BITS-1:0]  bias,
    output logic                out_valid,
    output logic                out_valid_next,   // out_valid of the next cycle
    output logic [ACC_BITS-1:0] out
);
    localparam int S = ACC_BITS + 2;
    localparam int NB = (S + 7) / 8;             // byte groups of the rounding masks
    localparam logic [1:0] RND_CONV = 2'd1;
    localparam logic [1:0] RND = 2'd2;

    // ---------------- local configuration copies (quasi-static) ----------------
    always_ff @(posedge clk) begin
        cfg_shift <= shift;
        cfg_rounding <= rounding;
        cfg_out_bits <= out_bits;
        cfg_out_signed <= out_signed;
        cfg_relu <= relu;
    end
    // Derived: output range limits, the mask of the bits that must all equal the sign for a value
    // to be in range (out_bits-1 and up when signed, out_bits and up when unsigned), the half
    // bit's mask and the mask of the bits below it. Step 1 decodes each 3-bit half of the 6-bit
    // fields against constants, step 2 forms the thermometer codes ob_gt[b] = out_bits > b,
    // sh_gt[b] = shift > b and sh_eq[b] = shift == b, step 3 the masks: each bit one LUT.
    localparam int T = S + 2;           // thermometer bits 0..S+1
    logic [7:0] ob_hi_gt, ob_hi_eq, ob_lo_gt, sh_hi_gt, sh_hi_eq, sh_lo_gt, sh_lo_eq;
    logic [T-1:0] ob_gt, sh_gt, sh_eq;
    logic os2, relu2, os3, relu3;
    always_ff @(posedge clk) begin
        for (int k = 0; k < 8; k++) begin
            ob_hi_gt[k] <= cfg_out_bits[5:3] > 3'(k);
            ob_hi_eq[k] <= cfg_out_bits[5:3] == 3'(k);
            ob_lo_gt[k] <= cfg_out_bits[2:0] > 3'(k);
            sh_hi_gt[k] <= cfg_shift[5:3] > 3'(k);
            sh_hi_eq[k] <= cfg_shift[5:3] == 3'(k);
            sh_lo_gt[k] <= cfg_shift[2:0] > 3'(k);
            sh_lo_eq[k] <= cfg_shift[2:0] == 3'(k);
        end
        {os2, relu2} <= {cfg_out_signed, cfg_relu};
        for (int b = 0; b < T; b++) begin
            ob_gt[b] <= ob_hi_gt[b / 8] || (ob_hi_eq[b / 8] && ob_lo_gt[b % 8]);
            sh_gt[b] <= sh_hi_gt[b / 8] || (sh_hi_eq[b / 8] && sh_lo_gt[b % 8]);
            sh_eq[b] <= sh_hi_eq[b / 8] && sh_lo_eq[b % 8];
        end
        {os3, relu3} <= {os2, relu2};
    end
    logic [ACC_BITS-1:0] lo, hi;
    logic [S-1:0] range_mask, half_mask, sticky_mask;
    logic signed_below;                 // a negative value saturates to -2^(out_bits-1)
    always_ff @(posedge clk) begin
        for (int b = 0; b < S; b++) begin
            range_mask[b] <= os3 ? !ob_gt[b + 1] : !ob_gt[b];
            half_mask[b] <= sh_eq[b + 1];
            sticky_mask[b] <= sh_gt[b + 1];
        end
        for (int b = 0; b < ACC_BITS; b++) begin
            hi[b] <= os3 ? ob_gt[b + 1] : ob_gt[b];
            lo[b] <= os3 && !relu3 && !ob_gt[b + 1];
        end
        signed_below <= os3 && !relu3;
    end
    // Shift amount: one kept copy per byte of the word it shifts (Yosys would merge them back
    // into one flip-flop per bit, with a fanout of every multiplexer of the shifter).
    logic [5:0] shift_g [NB];
    for (genvar g = 0; g < NB; g++) begin : g_shift_copy
        (* keep *)
        always_ff @(posedge clk) shift_g[g] <= cfg_shift;
    end
    wire [1:0] rounding_c = cfg_rounding;

    // ---------------- datapath ----------------
    logic [8:0] v;                                      // valid of stages 0..8
    logic [ACC_BITS-1:0] acc0, bias0;                   // 0
    logic signed [S-1:0] sum1;                          // 1
    logic signed [S-1:0] coarse2;                       // 2
    logic [NB-1:0] half2, sticky2;
    logic signed [S-1:0] floor3, floor4;                // 3, 4: shifted but for the last bit, floor
    logic half3, sticky3;
    logic up4;                                          // round up: the increment of stage 5
    logic signed [S-1:0] rounded5;                      // 5
    logic [ACC_BITS-1:0] val6, val7;                    // 6, 7
    logic [NB-1:0] ones6, zeros6;
    logic neg6, below7, above7;

    wire [S-1:0] sum_u = sum1;
    wire [S-1:0] rounded_u = rounded5;
    wire [S-1:0] half_s = sum_u & half_mask;
    wire [S-1:0] sticky_s = sum_u & sticky_mask;
    wire [S-1:0] ones_s = rounded_u & range_mask;       // range bits that are 1
    wire [S-1:0] zeros_s = ~rounded_u & range_mask;     // range bits that are 0
    wire [NB*8-1:0] half_bits = (NB*8)'(half_s);
    wire [NB*8-1:0] sticky_bits = (NB*8)'(sticky_s);
    wire [NB*8-1:0] ones_bits = (NB*8)'(ones_s);
    wire [NB*8-1:0] zeros_bits = (NB*8)'(zeros_s);
    // The increment is decided in stage 4, beside the last shift step, from the half / sticky
    // flags and the floor's LSB (bit 0 or 1 of floor3), so stage 5's adder has a register on its
    // carry input.
    wire floor_lsb = shift_g[0][0] ? floor3[1] : floor3[0];
    wire up = (rounding_c == RND) ? half3
            : (rounding_c == RND_CONV) ? (half3 && (sticky3 || floor_lsb))
            : 1'b0;

    // The shifter in three steps (multiples of 8 in stage 2, of 2 in stage 3, the last bit in
    // stage 4: at most four inputs per output bit in the last two), one byte of each output per
    // shift-amount copy.
    for (genvar g = 0; g < NB; g++) begin : g_shift
        localparam int LO = 8 * g;
        localparam int SW = (S - LO < 8) ? S - LO : 8;                  // bits of this byte of S
        /* verilator lint_off UNUSEDSIGNAL */   // each copy's shifter keeps only its own byte
        wire [S-1:0] sum_coarse = sum1 >>> {shift_g[g][5:3], 3'b000};
        wire [S-1:0] sum_pairs = coarse2 >>> {shift_g[g][2:1], 1'b0};
        wire [S-1:0] sum_last = floor3 >>> shift_g[g][0];
        /* verilator lint_on UNUSEDSIGNAL */
        always_ff @(posedge clk) begin
            coarse2[LO +: SW] <= sum_coarse[LO +: SW];
            floor3[LO +: SW] <= sum_pairs[LO +: SW];
            floor4[LO +: SW] <= sum_last[LO +: SW];
        end
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            v <= '0;
        end else begin
            v <= {v[7:0], in_valid};
        end
        acc0 <= acc;
        bias0 <= bias;
        // 1: add
        sum1 <= S'($signed(acc0)) + S'($signed(bias0));
        // 2: shift by the multiple of 8; OR-reduce the masked bits per byte
        for (int b = 0; b < NB; b++) begin
            half2[b] <= |half_bits[b*8 +: 8];
            sticky2[b] <= |sticky_bits[b*8 +: 8];
        end
        // 3: remaining shift; any half / sticky bit
        half3 <= |half2;
        sticky3 <= |sticky2;
        // 4: round up?
        up4 <= up;
        // 5: round
        rounded5 <= floor4 + S'(up4);
        // 6: which range bits are set / clear, per byte
        val6 <= ACC_BITS'(rounded5);
        neg6 <= rounded5[S-1];
        for (int b = 0; b < NB; b++) begin
            ones6[b] <= |ones_bits[b*8 +: 8];
            zeros6[b] <= |zeros_bits[b*8 +: 8];
        end
        // 7: out of range? (a negative value is below lo = 0 when lo is 0)
        val7 <= val6;
        above7 <= !neg6 && (|ones6);
        below7 <= neg6 && (!signed_below || (|zeros6));
        // 8: saturate
        out <= below7 ? lo : above7 ? hi : val7;
    end
    assign out_valid = v[8];
    assign out_valid_next = v[7];
endmodule
`default_nettype wire
