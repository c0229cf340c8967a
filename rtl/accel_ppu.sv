`default_nettype none
// Post-processing unit of one output column: bias, requantization, ReLU, saturation.
//
//   y = clip( relu?( shift_right_round(acc + (bias << bias_shift), shift, rounding) ), out type )
//
// exactly as codesign.fixedpoint.shift_right_round / FixedType.fit_codes with saturation:
// rounding 0 = TRN (floor), 1 = RND_CONV (half to even, tf.round), 2 = RND (half up);
// the output type has out_bits (1..ACC_BITS) bits, signed or unsigned; an unsigned type with
// saturation is quantized_relu. The result is sign-extended to ACC_BITS.
//
// Ten pipeline stages (codesign.accel.golden.PPU_LATENCY), each one carry chain or a couple of
// LUT levels deep, so the unit is off the critical path:
//   0 input registers (the accumulators come from the array, the bias from its memory: both far)
//   1 bias coarse shift (multiples of 8)   2 bias fine shift      3 acc + bias (ACC_BITS+2 bits)
//   4 coarse shift (multiples of 8), rounding masks OR-reduced per byte
//   5 fine shift, half and sticky bits     6 floor + rounding increment
//   7 out-of-range bits OR-reduced per byte (masks, no comparator)
//   8 below / above flags                  9 saturation select
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
    input  wire [5:0]           bias_shift,
    input  wire [5:0]           shift,
    input  wire [1:0]           rounding,
    input  wire [5:0]           out_bits,
    input  wire                 out_signed,
    input  wire                 relu,
    output logic [5:0]          cfg_bias_shift,   // the registered configuration, for the next PPU
    output logic [5:0]          cfg_shift,
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
        cfg_bias_shift <= bias_shift;
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
    // Shift amounts: one kept copy per byte of the word they shift (Yosys would merge them back
    // into one flip-flop per bit, with a fanout of every multiplexer of the shifter).
    logic [5:0] bias_shift_g [NB];
    logic [5:0] shift_g [NB];
    for (genvar g = 0; g < NB; g++) begin : g_shift_copy
        (* keep *)
        always_ff @(posedge clk) begin
            bias_shift_g[g] <= cfg_bias_shift;
            shift_g[g] <= cfg_shift;
        end
    end
    wire [1:0] rounding_c = cfg_rounding;

    // ---------------- datapath ----------------
    logic [9:0] v;                                      // valid of stages 0..9
    logic [ACC_BITS-1:0] acc0, bias0;                   // 0
    logic [ACC_BITS-1:0] acc1, bias1, acc2, bias2;      // 1, 2
    logic signed [S-1:0] sum3;                          // 3
    logic signed [S-1:0] coarse4;                       // 4
    logic [NB-1:0] half4, sticky4;
    logic signed [S-1:0] floor5;                        // 5
    logic half5, sticky5;
    logic signed [S-1:0] rounded6;                      // 6
    logic [ACC_BITS-1:0] val7, val8;                    // 7, 8
    logic [NB-1:0] ones7, zeros7;
    logic neg7, below8, above8;

    wire [S-1:0] sum_u = sum3;
    wire [S-1:0] rounded_u = rounded6;
    wire [S-1:0] half_s = sum_u & half_mask;
    wire [S-1:0] sticky_s = sum_u & sticky_mask;
    wire [S-1:0] ones_s = rounded_u & range_mask;       // range bits that are 1
    wire [S-1:0] zeros_s = ~rounded_u & range_mask;     // range bits that are 0
    wire [NB*8-1:0] half_bits = (NB*8)'(half_s);
    wire [NB*8-1:0] sticky_bits = (NB*8)'(sticky_s);
    wire [NB*8-1:0] ones_bits = (NB*8)'(ones_s);
    wire [NB*8-1:0] zeros_bits = (NB*8)'(zeros_s);
    wire up = (rounding_c == RND) ? half5
            : (rounding_c == RND_CONV) ? (half5 && (sticky5 || floor5[0]))
            : 1'b0;

    // The four shifters (bias coarse and fine, 1-2; result coarse and fine, 4-5), one byte of each
    // output per shift-amount copy.
    for (genvar g = 0; g < NB; g++) begin : g_shift
        localparam int LO = 8 * g;
        localparam int SW = (S - LO < 8) ? S - LO : 8;                  // bits of this byte of S
        /* verilator lint_off UNUSEDSIGNAL */   // each copy's shifter keeps only its own byte
        wire [S-1:0] sum_coarse = sum3 >>> {shift_g[g][5:3], 3'b000};
        wire [S-1:0] sum_fine = coarse4 >>> shift_g[g][2:0];
        /* verilator lint_on UNUSEDSIGNAL */
        always_ff @(posedge clk) begin
            coarse4[LO +: SW] <= sum_coarse[LO +: SW];
            floor5[LO +: SW] <= sum_fine[LO +: SW];
        end
        if (LO < ACC_BITS) begin : g_bias
            localparam int BW = (ACC_BITS - LO < 8) ? ACC_BITS - LO : 8;   // bits of this byte of the bias
            /* verilator lint_off UNUSEDSIGNAL */
            wire [ACC_BITS-1:0] bias_coarse = bias0 << {bias_shift_g[g][5:3], 3'b000};
            wire [ACC_BITS-1:0] bias_fine = bias1 << bias_shift_g[g][2:0];
            /* verilator lint_on UNUSEDSIGNAL */
            always_ff @(posedge clk) begin
                bias1[LO +: BW] <= bias_coarse[LO +: BW];
                bias2[LO +: BW] <= bias_fine[LO +: BW];
            end
        end
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            v <= '0;
        end else begin
            v <= {v[8:0], in_valid};
        end
        // 1, 2: align the bias (by the multiple of 8, then the rest)
        acc0 <= acc;
        bias0 <= bias;
        acc1 <= acc0;
        acc2 <= acc1;
        // 3: add
        sum3 <= S'($signed(acc2)) + S'($signed(bias2));
        // 4: shift by the multiple of 8; OR-reduce the masked bits per byte
        for (int b = 0; b < NB; b++) begin
            half4[b] <= |half_bits[b*8 +: 8];
            sticky4[b] <= |sticky_bits[b*8 +: 8];
        end
        // 5: remaining shift; half and sticky bits
        half5 <= |half4;
        sticky5 <= |sticky4;
        // 6: round
        rounded6 <= floor5 + S'(up);
        // 7: which range bits are set / clear, per byte
        val7 <= ACC_BITS'(rounded6);
        neg7 <= rounded6[S-1];
        for (int b = 0; b < NB; b++) begin
            ones7[b] <= |ones_bits[b*8 +: 8];
            zeros7[b] <= |zeros_bits[b*8 +: 8];
        end
        // 8: out of range? (a negative value is below lo = 0 when lo is 0)
        val8 <= val7;
        above8 <= !neg7 && (|ones7);
        below8 <= neg7 && (!signed_below || (|zeros7));
        // 9: saturate
        out <= below8 ? lo : above8 ? hi : val8;
    end
    assign out_valid = v[9];
    assign out_valid_next = v[8];
endmodule
`default_nettype wire
