`default_nettype none
// Post-processing unit of one output column: bias, requantization, ReLU, saturation.
//
//   y = clip( relu?( shift_right_round(acc + (bias << bias_shift), shift, rounding) ), out type )
//
// exactly as codesign.fixedpoint.shift_right_round / FixedType.fit_codes with saturation:
// rounding 0 = TRN (floor), 1 = RND_CONV (half to even, tf.round), 2 = RND (half up);
// the output type has out_bits (1..ACC_BITS) bits, signed or unsigned; an unsigned type with
// saturation is quantized_relu. Four pipeline stages; the result is sign-extended to ACC_BITS.
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
    localparam logic [1:0] RND_CONV = 2'd1;
    localparam logic [1:0] RND = 2'd2;

    // Output range (quasi-static configuration, registered once per cycle).
    logic signed [S-1:0] lo, hi;
    always_ff @(posedge clk) begin
        if (out_signed) begin
            hi <= (S'(1) <<< (out_bits - 6'd1)) - S'(1);
            lo <= relu ? '0 : -(S'(1) <<< (out_bits - 6'd1));
        end else begin
            hi <= (S'(1) <<< out_bits) - S'(1);
            lo <= '0;
        end
    end

    // Stage 1: bias aligned by a left shift (the reference model checks it fits ACC_BITS).
    wire [ACC_BITS-1:0] bias_al = bias << bias_shift;
    logic signed [S-1:0] sum;
    logic v1;
    // Stage 2: floor and the rounding decision.
    logic signed [S-1:0] floor_q;
    logic up, v2;
    // Stage 3: rounded value.
    logic signed [S-1:0] rounded;
    logic v3;

    wire signed [S-1:0] floor_d = sum >>> shift;
    wire [S-1:0] below = sum >> (shift - 6'd1);                 // bit 0 = the half bit
    wire unused_below = &{1'b0, below[S-1:1]};
    wire [S-1:0] sticky_mask = (S'(1) << (shift - 6'd1)) - S'(1);
    wire half = (shift != 0) && below[0];
    wire sticky = (shift > 6'd1) && ((sum & sticky_mask) != '0);
    wire up_d = (rounding == RND) ? half
              : (rounding == RND_CONV) ? (half && (sticky || floor_d[0]))
              : 1'b0;

    always_ff @(posedge clk) begin
        if (rst) begin
            v1 <= 1'b0;
            v2 <= 1'b0;
            v3 <= 1'b0;
            out_valid <= 1'b0;
            sum <= '0;
            floor_q <= '0;
            up <= 1'b0;
            rounded <= '0;
            out <= '0;
        end else begin
            v1 <= in_valid;
            sum <= S'($signed(acc)) + S'($signed(bias_al));
            v2 <= v1;
            floor_q <= floor_d;
            up <= up_d;
            v3 <= v2;
            rounded <= floor_q + S'(up);
            out_valid <= v3;
            if (rounded < lo) out <= ACC_BITS'(lo);
            else if (rounded > hi) out <= ACC_BITS'(hi);
            else out <= ACC_BITS'(rounded);
        end
    end
endmodule
`default_nettype wire
