`default_nettype none
// Activation memory: one bank per array row, all banks holding the same words (a write goes to
// every bank), so each row reads its own address every cycle (per-row address generation: a row
// tile of a Conv2D layer needs ROWS pixels at unrelated addresses). A word is one group of LANES
// activations of one sample / pixel.
//
// Writes are by row: a bank is rows of WORDS words, and a write gives a row and which of its words
// to write (a whole output row of the array, COLS/LANES words, is one row: the compiler lays a
// layer's written-back results out in whole rows; the loader and the pooling unit write one word).
// A bank's row is spread over NRAM block RAMs of RS words each: a block RAM's 36-bit write port
// takes up to four 9-bit byte lanes with an enable each, its read port reads one word (ports of
// two widths, accel_sdpram WRITE_WORDS). An 8 x 8 int8 dense build has two block RAMs per bank.
//
// Reads: read data seven cycles after the address (AMEM_READ in accel_top). The address is
// registered once per bank, then once per block RAM (kept copies: one register per bank would fan
// out to the bank's block RAMs). The RAM's read data goes straight into a register (the block
// RAM's own output register on ECP5, see codesign.ecp5_pack: a block-RAM read without it is
// 5.8 ns), then into a fabric register beside the RAM select, then through the select in two
// registered steps, groups of up to four RAMs and then the groups (the array's input register is
// farther still). Writes: enables, row and data are registered as they come in, copied once per
// pair of banks and once per block RAM (kept: one set of write registers would fan out to every
// block RAM of the chip), so a word is written three cycles after it is presented; nothing reads
// it that early (the controller reads a layer's input only after the previous descriptor has
// finished). The banks are block RAM (BLOCK_RAM): as LUT RAM, they cost thousands of LUTs and
// slow reads.
module accel_amem #(
    parameter int ROWS  = 4,
    parameter int WIDTH = 32,     // bits of one word (LANES * ACT_BITS)
    parameter int WORDS = 1,      // words per row, a power of two, 2 * WORDS <= DEPTH
    parameter int DEPTH = 1024,   // words, a power of two
    parameter int AA    = $clog2(DEPTH),
    localparam int SB   = $clog2(WORDS)
) (
    input  wire                    clk,
    input  wire [WORDS-1:0]        we_in,     // word w of the row: address wrow_in * WORDS + w
    input  wire [AA-SB-1:0]        wrow_in,
    input  wire [WORDS*WIDTH-1:0]  wdata_in,
    input  wire [ROWS*AA-1:0]      raddr,
    output wire [ROWS*WIDTH-1:0]   rdata
);
    localparam int LANES9 = (WIDTH + 8) / 9;                        // byte lanes per word
    localparam int RS_FIT = (LANES9 <= 4) ? 4 / LANES9 : 1;         // words in a 36-bit write port
    localparam int RS = (WORDS < RS_FIT) ? WORDS : RS_FIT;          // words per RAM row
    localparam int RSB = $clog2(RS);
    localparam int NRAM = WORDS / RS;                               // RAMs per bank
    localparam int NB = SB - RSB;                                   // read select bits

    logic [WORDS-1:0] we;
    logic [AA-SB-1:0] wrow;
    logic [WORDS*WIDTH-1:0] wdata;
    always_ff @(posedge clk) begin
        we <= we_in;
        wrow <= wrow_in;
        wdata <= wdata_in;
    end
    localparam int PAIRS = (ROWS + 1) / 2;
    logic [WORDS-1:0] pair_we [PAIRS];
    logic [AA-SB-1:0] pair_wrow [PAIRS];
    logic [WORDS*WIDTH-1:0] pair_wd [PAIRS];
    for (genvar q = 0; q < PAIRS; q++) begin : g_pair
        (* keep *)
        always_ff @(posedge clk) begin
            pair_we[q] <= we;
            pair_wrow[q] <= wrow;
            pair_wd[q] <= wdata;
        end
    end

    for (genvar r = 0; r < ROWS; r++) begin : g_bank
        localparam int G = (NRAM < 4) ? NRAM : 4;   // RAMs per group of the read select
        localparam int NG = NRAM / G;
        wire [WIDTH-1:0] ram_q [NRAM];
        logic [WIDTH-1:0] sub_q [NRAM];    // the RAM's output register
        logic [WIDTH-1:0] sub_f [NRAM];    // its copy beside the select
        logic [WIDTH-1:0] grp_q [NG];
        logic [WIDTH-1:0] out_q;
        logic [AA-1:0] ra_b;               // the bank's read address, before the per-RAM copies
        wire [AA-NB-1:0] ra_ram;           // the word in one RAM: the row, then the word in the row
        if (RSB == 0) begin : g_ra_row
            assign ra_ram = ra_b[AA-1:SB];
        end else begin : g_ra_row_word
            assign ra_ram = {ra_b[AA-1:SB], ra_b[RSB-1:0]};
        end
        always_ff @(posedge clk) begin
            ra_b <= raddr[r*AA +: AA];
            for (int n = 0; n < NRAM; n++) sub_q[n] <= ram_q[n];
            for (int n = 0; n < NRAM; n++) sub_f[n] <= sub_q[n];
        end
        if (NB == 0) begin : g_one_ram
            always_ff @(posedge clk) begin
                grp_q[0] <= sub_f[0];
                out_q <= grp_q[0];
            end
        end else begin : g_select
            // The select follows the data: sel_q is beside sub_f, sel_g beside grp_q.
            localparam int GB = $clog2(G);
            logic [NB-1:0] sel_a, sel_b, sel, sel_q;
            always_ff @(posedge clk) begin
                sel_a <= ra_b[SB-1:RSB];
                sel_b <= sel_a;
                sel <= sel_b;
                sel_q <= sel;
                for (int g = 0; g < NG; g++) grp_q[g] <= sub_f[g * G + int'(sel_q[GB-1:0])];
            end
            if (NG == 1) begin : g_one_group
                always_ff @(posedge clk) out_q <= grp_q[0];
            end else begin : g_groups
                logic [NB-GB-1:0] sel_g;
                always_ff @(posedge clk) begin
                    sel_g <= sel_q[NB-1:GB];
                    out_q <= grp_q[sel_g];
                end
            end
        end
        for (genvar n = 0; n < NRAM; n++) begin : g_ram
            logic [RS-1:0] bank_we;
            logic [AA-SB-1:0] bank_wa;
            logic [AA-NB-1:0] bank_ra;
            logic [RS*WIDTH-1:0] bank_wd;
            (* keep *)
            always_ff @(posedge clk) begin
                bank_we <= pair_we[r/2][n*RS +: RS];
                bank_wa <= pair_wrow[r/2];
                bank_wd <= pair_wd[r/2][n*RS*WIDTH +: RS*WIDTH];
                bank_ra <= ra_ram;
            end
            accel_sdpram #(.WIDTH(WIDTH), .DEPTH(DEPTH / NRAM), .BLOCK_RAM(1), .WRITE_WORDS(RS)) u_ram (
                .clk(clk), .we(bank_we), .waddr(bank_wa), .wdata(bank_wd),
                .raddr(bank_ra), .rdata(ram_q[n]));
        end
        assign rdata[r*WIDTH +: WIDTH] = out_q;
    end
endmodule
`default_nettype wire
