`default_nettype none
// Simple dual-port RAM: one synchronous write port, one synchronous read port (read data valid
// the cycle after the address). Plain behavioural code, so Yosys infers block or distributed RAM.
// WRITE_WORDS > 1 makes the write port that many words wide (aligned, one enable per word) and
// leaves the read port one word wide: a block RAM with ports of two widths and byte enables.
module accel_sdpram #(
    parameter int WIDTH = 32,
    parameter int DEPTH = 256,
    parameter int ADDR_BITS = (DEPTH > 1) ? $clog2(DEPTH) : 1,
    parameter bit BLOCK_RAM = 0,    // 1: ask Yosys for block RAM whatever the size (else its choice)
    parameter int WRITE_WORDS = 1,  // a power of two dividing DEPTH
    localparam int WB = $clog2(WRITE_WORDS)
) (
    input  wire                          clk,
    input  wire [WRITE_WORDS-1:0]        we,
    input  wire [ADDR_BITS-WB-1:0]       waddr,   // in units of WRITE_WORDS words
    input  wire [WRITE_WORDS*WIDTH-1:0]  wdata,
    input  wire [ADDR_BITS-1:0]          raddr,
    output logic [WIDTH-1:0]             rdata
);
    // Simulation starts the words at zero, as FPGA block and LUT RAM power up. The design is
    // correct for any bits in a word never written (the array reads such words for the rows of a
    // last row tile past M, and a PE's running total takes them in; the tile sums, differences of
    // that total, do not), but a 4-state simulator would carry their X into every later sum.
    //
    // No read of an address in the cycle it is written (the controller never overlaps a layer's
    // input and output regions), so Yosys adds no read-during-write bypass logic after the RAM.
    if (BLOCK_RAM) begin : g_block
        (* no_rw_check, ram_style = "block" *) logic [WIDTH-1:0] mem [DEPTH];
`ifndef SYNTHESIS
        initial for (int i = 0; i < DEPTH; i++) mem[i] = '0;
`endif
        always_ff @(posedge clk) begin
            for (int i = 0; i < WRITE_WORDS; i++)
                if (we[i]) mem[(ADDR_BITS'(waddr) << WB) | ADDR_BITS'(i)] <= wdata[i*WIDTH +: WIDTH];
            rdata <= mem[raddr];
        end
    end else begin : g_auto
        (* no_rw_check *) logic [WIDTH-1:0] mem [DEPTH];
`ifndef SYNTHESIS
        initial for (int i = 0; i < DEPTH; i++) mem[i] = '0;
`endif
        always_ff @(posedge clk) begin
            for (int i = 0; i < WRITE_WORDS; i++)
                if (we[i]) mem[(ADDR_BITS'(waddr) << WB) | ADDR_BITS'(i)] <= wdata[i*WIDTH +: WIDTH];
            rdata <= mem[raddr];
        end
    end
endmodule
`default_nettype wire
