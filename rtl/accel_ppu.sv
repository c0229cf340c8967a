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
// Eight pipeline stages (codesign.accel.golden.PPU_LATENCY), each one carry chain or a couple of
// LUT levels deep, so the unit is off the critical path:
//   1 bias aligned (barrel shift)          2 acc + bias (ACC_BITS+2 bits)
//   3 coarse shift (multiples of 8), rounding masks OR-reduced per byte
//   4 fine shift, half and sticky bits     5 floor + rounding increment
//   6 out-of-range bits OR-reduced per byte (masks, no comparator)
//   7 below / above flags                  8 saturation select
// The configuration inputs are quasi-static (they change only between layers): each PPU keeps
// its own registered copy (cfg_* outputs, chained from column to column so the copies stay
// distinct flip-flops that synthesis cannot merge back into one high-fanout net) and the masks
// and limits derived from it. They must be stable for two cycles before the first valid input
// at the first PPU of the chain, one more per PPU further down (the controller sets them a whole
// layer ahead).
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
    // Derived, registered: output range limits, the mask of the bits that must all equal the
    // sign for a value to be in range (out_bits-1 and up when signed, out_bits and up when
    // unsigned), the half bit's mask and the mask of the bits below it.
    logic [ACC_BITS-1:0] lo, hi;
    logic [S-1:0] range_mask, half_mask, sticky_mask;
    logic signed_below;                 // a negative value saturates to -2^(out_bits-1)
    // Bit by bit, each one a comparison of a 6-bit field with a constant (no shifter or carry
    // chain): hi = 2^(n-1) - 1 or 2^n - 1, lo = -2^(n-1) (signed, no ReLU) or 0.
    always_ff @(posedge clk) begin
        for (int b = 0; b < S; b++) begin
            logic in_signed, in_unsigned;   // bit b lies below the sign / top bit of the type
            in_signed = {1'b0, cfg_out_bits} > 7'(b + 1);
            in_unsigned = {1'b0, cfg_out_bits} > 7'(b);
            range_mask[b] <= cfg_out_signed ? !in_signed : !in_unsigned;
            half_mask[b] <= {1'b0, cfg_shift} == 7'(b + 1);
            sticky_mask[b] <= {1'b0, cfg_shift} > 7'(b + 1);
        end
        for (int b = 0; b < ACC_BITS; b++) begin
            logic in_signed, in_unsigned;
            in_signed = {1'b0, cfg_out_bits} > 7'(b + 1);
            in_unsigned = {1'b0, cfg_out_bits} > 7'(b);
            hi[b] <= cfg_out_signed ? in_signed : in_unsigned;
            lo[b] <= cfg_out_signed && !cfg_relu && !in_signed;
        end
        signed_below <= cfg_out_signed && !cfg_relu;
    end
    wire [5:0] bias_shift_c = cfg_bias_shift;
    wire [5:0] shift_c = cfg_shift;
    wire [1:0] rounding_c = cfg_rounding;

    // ---------------- datapath ----------------
    logic [7:0] v;                                      // valid of stages 1..8
    logic [ACC_BITS-1:0] acc1, bias1;                   // 1
    logic signed [S-1:0] sum2;                          // 2
    logic signed [S-1:0] coarse3;                       // 3
    logic [NB-1:0] half3, sticky3;
    logic signed [S-1:0] floor4;                        // 4
    logic half4, sticky4;
    logic signed [S-1:0] rounded5;                      // 5
    logic [ACC_BITS-1:0] val6, val7;                    // 6, 7
    logic [NB-1:0] ones6, zeros6;
    logic neg6, below7, above7;

    wire [S-1:0] sum_u = sum2;
    wire [S-1:0] rounded_u = rounded5;
    wire [S-1:0] half_s = sum_u & half_mask;
    wire [S-1:0] sticky_s = sum_u & sticky_mask;
    wire [S-1:0] ones_s = rounded_u & range_mask;       // range bits that are 1
    wire [S-1:0] zeros_s = ~rounded_u & range_mask;     // range bits that are 0
    wire [NB*8-1:0] half_bits = (NB*8)'(half_s);
    wire [NB*8-1:0] sticky_bits = (NB*8)'(sticky_s);
    wire [NB*8-1:0] ones_bits = (NB*8)'(ones_s);
    wire [NB*8-1:0] zeros_bits = (NB*8)'(zeros_s);
    wire up = (rounding_c == RND) ? half4
            : (rounding_c == RND_CONV) ? (half4 && (sticky4 || floor4[0]))
            : 1'b0;

    always_ff @(posedge clk) begin
        if (rst) begin
            v <= '0;
        end else begin
            v <= {v[6:0], in_valid};
        end
        // 1: align the bias
        acc1 <= acc;
        bias1 <= bias << bias_shift_c;
        // 2: add
        sum2 <= S'($signed(acc1)) + S'($signed(bias1));
        // 3: shift by the multiple of 8; OR-reduce the masked bits per byte
        coarse3 <= sum2 >>> {shift_c[5:3], 3'b000};
        for (int b = 0; b < NB; b++) begin
            half3[b] <= |half_bits[b*8 +: 8];
            sticky3[b] <= |sticky_bits[b*8 +: 8];
        end
        // 4: remaining shift; half and sticky bits
        floor4 <= coarse3 >>> shift_c[2:0];
        half4 <= |half3;
        sticky4 <= |sticky3;
        // 5: round
        rounded5 <= floor4 + S'(up);
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
    assign out_valid = v[7];
endmodule
`default_nettype wire
