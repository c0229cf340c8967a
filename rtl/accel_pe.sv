`default_nettype none
// One processing element of the output-stationary systolic array.
//
// Activations travel right as a group of LANES values (the M of N:M sparsity; 1 in a dense-only
// build), each already extended to ACT_BITS + 1 signed bits at the array's edge (so unsigned
// codes multiply correctly and no per-layer sign flag has to reach every PE), weights travel down with a lane index that picks the activation of the group they
// multiply. Six stages (codesign.accel.golden.PE_LATENCY): input/forwarding registers (and the
// selected lane), operand registers, product register, product copy, running accumulator, result. The multiplier (a DSP
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
    output logic [ACC_BITS-1:0]         result_end,     // the running total at a tile's end
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
    // The tile-end flag, through every stage (last_out, last_op, last_p, last_q, then `hold_end`
    // for the result register). It is the same signal in every PE of an anti-diagonal (i + j),
    // and each stage's copy equals the stage before it one PE further down: kept, so Yosys does
    // not merge them into one flip-flop that hands over the sums of PEs rows apart.
    // The result register takes the flag inverted (`hold_end`, high on every cycle but a tile's
    // end): its clear is then the flip-flop's own active-high reset input, with no LUT.
    logic last_op, last_p, last_q, hold_end;
    (* keep *)
    always_ff @(posedge clk) begin
        if (rst) {last_out, last_op, last_p, last_q, hold_end} <= 5'b00001;
        else {last_out, last_op, last_p, last_q, hold_end} <= {last_in, last_out, last_op, last_p, !last_q};
    end

    // Lane select, in stage 1 beside the forwarding registers (from this PE's inputs, into a
    // register of its own), so stage 2's operand register, which is the DSP block's input
    // register on ECP5, is fed by a flip-flop and nothing else.
    wire [AX-1:0] a_sel;
    if (LANES == 1) begin : g_one_lane
        assign a_sel = a_out;
    end else begin : g_lanes
        wire [AX-1:0] lane [LANES];
        for (genvar l = 0; l < LANES; l++) begin : g_lane
            assign lane[l] = a_in[l*AX +: AX];
        end
        logic [AX-1:0] a_pick;
        always_ff @(posedge clk) begin
            if (rst) a_pick <= '0;
            else a_pick <= lane[idx_in];
        end
        assign a_sel = a_pick;
    end

    // Stage 2: operands.
    logic signed [AX-1:0] a_op;
    logic signed [WEIGHT_BITS-1:0] w_op;
    always_ff @(posedge clk) begin
        if (rst) begin
            a_op <= '0;
            w_op <= '0;
        end else begin
            a_op <= a_sel;
            w_op <= w_out;
        end
    end

    // Stage 3: product.
    logic signed [PROD_BITS-1:0] prod;
    always_ff @(posedge clk) begin
        if (rst) prod <= '0;
        else prod <= a_op * w_op;
    end

    // Stage 4: product copy.
    logic signed [PROD_BITS-1:0] prod_q;
    always_ff @(posedge clk) begin
        if (rst) prod_q <= '0;
        else prod_q <= prod;
    end

    // Stage 5: accumulate. The accumulator runs on across tiles and is never cleared: a clear (or
    // a zeroed feedback) would put a LUT in front of the carry chain on every bit, and this loop
    // is the one every PE repeats. A tile's sum is the difference of the running totals at its
    // end and at the end of the PE's previous tile (modulo 2^ACC_BITS, exact while the sum fits
    // ACC_BITS); the array keeps each row's previous total and takes that difference once per
    // column, after the collect.
    logic [ACC_BITS-1:0] acc;
    always_ff @(posedge clk) begin
        if (rst) acc <= '0;
        else acc <= acc + ACC_BITS'(prod_q);
    end

    // Stage 6: the cycle after a tile's last step, the running total leaves on `result_end`,
    // valid for one cycle and zero on every other cycle, so the array collects a column's
    // results with an OR. Consecutive tiles need no bubble.
    always_ff @(posedge clk) begin
        if (rst) result_valid <= 1'b0;
        else result_valid <= !hold_end;
    end
    // Not reset: `hold_end` is, so the result is zero from the second cycle of a reset, and a
    // value left over from before it travels without a valid flag. With `rst` beside the flag,
    // the result register's clear took a LUT (out of context, the worst path of the array).
    always_ff @(posedge clk) result_end <= hold_end ? '0 : acc;
endmodule
`default_nettype wire
