`default_nettype none
// One processing element of the output-stationary systolic array.
//
// Activations travel right as a group of LANES values (the M of N:M sparsity; 1 in a dense-only
// build), each already extended to ACT_BITS + 1 signed bits at the array's edge (so unsigned
// codes multiply correctly and no per-layer sign flag has to reach every PE), weights travel down with a lane index that picks the activation of the group they
// multiply. Six stages (codesign.accel.golden.PE_LATENCY): input/forwarding registers, operand
// registers (lane selected), product register, product copy, accumulator, result. The multiplier (a DSP
// block or LUTs) sits between flip-flops with no other logic in front of or behind it; the product
// copy is a fabric register between the DSP block (whose own output register holds `prod` on
// ECP5, codesign.ecp5_pack) and the accumulator's carry chain, which the placer cannot always put
// next to the DSP row.
module accel_pe #(
    parameter int ACT_BITS    = 8,    // activation code bits; lanes carry them as ACT_BITS + 1 signed
    parameter int WEIGHT_BITS = 8,
    parameter int ACC_BITS    = 32,
    parameter int LANES       = 1,
    parameter int IDX_BITS    = 1
) (
    input  wire                         clk,
    input  wire                         rst,
    input  wire [LANES*(ACT_BITS+1)-1:0] a_in,
    input  wire [WEIGHT_BITS-1:0]       w_in,
    input  wire [IDX_BITS-1:0]          idx_in,
    input  wire                         last_in,
    output logic [LANES*(ACT_BITS+1)-1:0] a_out,
    output logic [WEIGHT_BITS-1:0]      w_out,
    output logic [IDX_BITS-1:0]         idx_out,
    output logic                        last_out,
    output logic [ACC_BITS-1:0]         result,
    output logic                        result_valid
);
    localparam int AX = ACT_BITS + 1;
    localparam int PROD_BITS = AX + WEIGHT_BITS;

    // Stage 1: forwarding registers (they are also this PE's operands).
    always_ff @(posedge clk) begin
        if (rst) begin
            a_out <= '0;
            w_out <= '0;
            idx_out <= '0;
        end else begin
            a_out <= a_in;
            w_out <= w_in;
            idx_out <= idx_in;
        end
    end
    // `last` is the same signal in every PE of an anti-diagonal (i + j): kept, so Yosys does not
    // merge those copies into one net that clears up to min(ROWS, COLS) accumulators.
    (* keep *)
    always_ff @(posedge clk) begin
        if (rst) last_out <= 1'b0;
        else last_out <= last_in;
    end

    // Lane select.
    wire [AX-1:0] a_sel;
    if (LANES == 1) begin : g_one_lane
        assign a_sel = a_out;
    end else begin : g_lanes
        wire [AX-1:0] lane [LANES];
        for (genvar l = 0; l < LANES; l++) begin : g_lane
            assign lane[l] = a_out[l*AX +: AX];
        end
        assign a_sel = lane[idx_out];
    end

    // Stage 2: operands.
    logic signed [AX-1:0] a_op;
    logic signed [WEIGHT_BITS-1:0] w_op;
    logic last_op;
    always_ff @(posedge clk) begin
        if (rst) begin
            a_op <= '0;
            w_op <= '0;
            last_op <= 1'b0;
        end else begin
            a_op <= a_sel;
            w_op <= w_out;
            last_op <= last_out;
        end
    end

    // Stage 3: product.
    logic signed [PROD_BITS-1:0] prod;
    logic last_p;
    always_ff @(posedge clk) begin
        if (rst) begin
            prod <= '0;
            last_p <= 1'b0;
        end else begin
            prod <= a_op * w_op;
            last_p <= last_op;
        end
    end

    // Stage 4: product copy.
    logic signed [PROD_BITS-1:0] prod_q;
    logic last_q;
    always_ff @(posedge clk) begin
        if (rst) begin
            prod_q <= '0;
            last_q <= 1'b0;
        end else begin
            prod_q <= prod;
            last_q <= last_p;
        end
    end

    // Stage 5: accumulate. A tile's sum starts from zero on its first product: `restart` (the
    // previous step closed a tile) zeroes the accumulator's feedback, instead of a clear when the
    // tile closes, so the adder's output feeds the accumulator register only (the packer can put
    // it in the adder's own slices) and the finished sum is read from that register.
    logic signed [ACC_BITS-1:0] acc;
    logic restart;
    always_ff @(posedge clk) begin
        if (rst) begin
            acc <= '0;
            restart <= 1'b0;
        end else begin
            acc <= (restart ? '0 : acc) + ACC_BITS'(prod_q);
            restart <= last_q;
        end
    end

    // Stage 6: the cycle after a tile's last step, its sum leaves on `result`, valid for one cycle
    // and zero on every other cycle, so the array collects a column's results with an OR.
    // Consecutive tiles need no bubble.
    always_ff @(posedge clk) begin
        if (rst) begin
            result <= '0;
            result_valid <= 1'b0;
        end else begin
            result_valid <= restart;
            result <= restart ? acc : '0;
        end
    end
endmodule
`default_nettype wire
