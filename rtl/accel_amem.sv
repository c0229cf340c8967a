`default_nettype none
// Activation memory: one bank per array row, all banks holding the same words (a write goes to
// every bank), so each row reads its own address every cycle (per-row address generation: a row
// tile of a Conv2D layer needs ROWS pixels at unrelated addresses). A word is one group of LANES
// activations of one sample / pixel.
//
// A write covers up to WORDS consecutive words (waddr, waddr+1, ...; word w enabled by we[w]), so
// a whole output row of the array (COLS results = COLS/LANES words) is written back in one cycle:
// each bank is split into WORDS sub-banks interleaved on the low address bits, and consecutive
// words always land in different sub-banks.
//
// Reads: read data two cycles after the address. The RAM's read data goes straight into a
// register (the block RAM's own output register on ECP5, see codesign.ecp5_pack: a block-RAM
// read without it is 5.8 ns), and only then through the sub-bank select.
module accel_amem #(
    parameter int ROWS  = 4,
    parameter int WIDTH = 32,     // bits of one word (LANES * ACT_BITS)
    parameter int WORDS = 1,      // words per write, a power of two <= DEPTH
    parameter int DEPTH = 1024,   // words, a power of two
    parameter int AA    = (DEPTH > 1) ? $clog2(DEPTH) : 1
) (
    input  wire                    clk,
    input  wire [WORDS-1:0]        we,
    input  wire [AA-1:0]           waddr,
    input  wire [WORDS*WIDTH-1:0]  wdata,
    input  wire [ROWS*AA-1:0]      raddr,
    output wire [ROWS*WIDTH-1:0]   rdata
);
    if (WORDS == 1) begin : g_single
        for (genvar r = 0; r < ROWS; r++) begin : g_bank
            wire [WIDTH-1:0] ram_q;
            logic [WIDTH-1:0] out_q;
            accel_sdpram #(.WIDTH(WIDTH), .DEPTH(DEPTH)) u_ram (
                .clk(clk), .we(we[0]), .waddr(waddr), .wdata(wdata),
                .raddr(raddr[r*AA +: AA]), .rdata(ram_q));
            always_ff @(posedge clk) out_q <= ram_q;
            assign rdata[r*WIDTH +: WIDTH] = out_q;
        end
    end else begin : g_multi
        localparam int SB = $clog2(WORDS);
        localparam int SA = AA - SB;
        // Sub-bank s takes write word w = (s - waddr) mod WORDS, at address (waddr + w) / WORDS.
        wire [SB-1:0] w_of [WORDS];
        wire [AA-1:0] a_of [WORDS];
        for (genvar s = 0; s < WORDS; s++) begin : g_wsel
            assign w_of[s] = SB'(s) - waddr[SB-1:0];
            assign a_of[s] = waddr + AA'(w_of[s]);
        end
        for (genvar r = 0; r < ROWS; r++) begin : g_bank
            wire [WIDTH-1:0] ram_q [WORDS];
            logic [WIDTH-1:0] sub_q [WORDS];
            logic [SB-1:0] sel, sel_q;
            always_ff @(posedge clk) begin
                sel <= raddr[r*AA +: SB];
                sel_q <= sel;
                for (int s = 0; s < WORDS; s++) sub_q[s] <= ram_q[s];
            end
            for (genvar s = 0; s < WORDS; s++) begin : g_sub
                /* verilator lint_off UNUSEDSIGNAL */
                wire [AA-1:0] a_s = a_of[s];
                /* verilator lint_on UNUSEDSIGNAL */
                accel_sdpram #(.WIDTH(WIDTH), .DEPTH(DEPTH / WORDS)) u_ram (
                    .clk(clk), .we(we[w_of[s]]), .waddr(a_s[AA-1:SB]),
                    .wdata(wdata[w_of[s]*WIDTH +: WIDTH]),
                    .raddr(raddr[r*AA + SB +: SA]), .rdata(ram_q[s]));
            end
            assign rdata[r*WIDTH +: WIDTH] = sub_q[sel_q];
        end
    end
endmodule
`default_nettype wire
