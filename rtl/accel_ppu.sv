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
// Seven pipeline stages (codesign.accel.golden.PPU_LATENCY), each one carry chain or a couple of
// LUT levels deep, so the unit is off the critical path:
//   1 bias aligned (barrel shift)          2 acc + bias (ACC_BITS+2 bits)
//   3 coarse shift (multiples of 8), rounding masks OR-reduced per byte
//   4 fine shift, half and sticky bits     5 floor + rounding increment
//   6 range comparisons                     7 saturation select
// The configuration inputs are quasi-static (they change only between layers): each PPU keeps
// its own registered copy, and the masks and range limits derived from them, so no wide
// broadcast net or decoder sits on a datapath stage. They must be stable for two cycles before
// the first valid input (the controller sets them a whole layer ahead).
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
    logic [5:0] bias_shift_c, shift_c;
    logic [1:0] rounding_c;
    logic [5:0] out_bits_c;
    logic out_signed_c, relu_c;
    always_ff @(posedge clk) begin
        bias_shift_c <= bias_shift;
        shift_c <= shift;
        rounding_c <= rounding;
        out_bits_c <= out_bits;
        out_signed_c <= out_signed;
        relu_c <= relu;
    end
    // Derived, registered: output range, the half bit's mask and the mask of the bits below it.
    logic signed [S-1:0] lo, hi;
    logic [S-1:0] half_mask, sticky_mask;
    always_ff @(posedge clk) begin
        if (out_signed_c) begin
            hi <= (S'(1) <<< (out_bits_c - 6'd1)) - S'(1);
            lo <= relu_c ? '0 : -(S'(1) <<< (out_bits_c - 6'd1));
        end else begin
            hi <= (S'(1) <<< out_bits_c) - S'(1);
            lo <= '0;
        end
        half_mask <= (shift_c == 6'd0) ? '0 : (S'(1) << (shift_c - 6'd1));
        sticky_mask <= (shift_c <= 6'd1) ? '0 : (S'(1) << (shift_c - 6'd1)) - S'(1);
    end

    // ---------------- datapath ----------------
    logic [6:0] v;                                      // valid of stages 1..7
    logic [ACC_BITS-1:0] acc1, bias1;                   // 1
    logic signed [S-1:0] sum2;                          // 2
    logic signed [S-1:0] coarse3;                       // 3
    logic [NB-1:0] half3, sticky3;
    logic signed [S-1:0] floor4;                        // 4
    logic half4, sticky4;
    logic signed [S-1:0] rounded5;                      // 5
    logic [ACC_BITS-1:0] val6;                          // 6
    logic below6, above6;

    wire [S-1:0] sum_bits = sum2;
    wire [NB*8-1:0] half_bits = (NB*8)'(sum_bits & half_mask);
    wire [NB*8-1:0] sticky_bits = (NB*8)'(sum_bits & sticky_mask);
    wire up = (rounding_c == RND) ? half4
            : (rounding_c == RND_CONV) ? (half4 && (sticky4 || floor4[0]))
            : 1'b0;

    always_ff @(posedge clk) begin
        if (rst) begin
            v <= '0;
        end else begin
            v <= {v[5:0], in_valid};
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
        // 6: compare with the output range
        val6 <= ACC_BITS'(rounded5);
        below6 <= rounded5 < lo;
        above6 <= rounded5 > hi;
        // 7: saturate
        out <= below6 ? ACC_BITS'(lo) : above6 ? ACC_BITS'(hi) : val6;
    end
    assign out_valid = v[6];
endmodule
`default_nettype wire
