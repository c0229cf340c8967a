`default_nettype none
// A DEPTH-cycle delay line of WIDTH bits (DEPTH = 0 is a wire); resets to zero.
module accel_delay #(
    parameter int WIDTH = 1,
    parameter int DEPTH = 1
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [WIDTH-1:0]  d,
    output wire [WIDTH-1:0]  q
);
    if (DEPTH == 0) begin : g_wire
        wire unused = &{1'b0, clk, rst};
        assign q = d;
    end else begin : g_regs
        logic [WIDTH-1:0] stage [DEPTH];
        always_ff @(posedge clk) begin
            if (rst) begin
                for (int i = 0; i < DEPTH; i++) stage[i] <= '0;
            end else begin
                stage[0] <= d;
                for (int i = 1; i < DEPTH; i++) stage[i] <= stage[i-1];
            end
        end
        assign q = stage[DEPTH-1];
    end
endmodule
`default_nettype wire
