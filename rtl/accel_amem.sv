`default_nettype none
// Activation memory: one bank per array row, all banks holding the same words (a write goes to
// every bank), so each row reads its own address every cycle (per-row address generation: a row
// tile of a Conv2D layer needs ROWS pixels at unrelated addresses). A word is one group of LANES
// activations of one sample / pixel.
//
// A write covers up to WORDS consecutive words (waddr, waddr+1, ...; word w enabled by we[w]), so
// a whole output row of the array (COLS results = COLS/LANES words) is written back in one cycle:
// a bank is rows of WORDS words split over several block RAMs (one per slot, or by row parity
// and group of slots; see g_multi) so that any WORDS consecutive words go to different RAMs or
// to different slots of one RAM row.
//
// Reads: read data seven cycles after the address (AMEM_READ in accel_top). The address is registered once per bank, then
// once per block RAM (kept copies: one register per bank would fan out to WORDS block RAMs spread
// over the chip). The RAM's read data goes straight into a register (the block RAM's own output
// register on ECP5, see codesign.ecp5_pack: a block-RAM read without it is 5.8 ns), then into a
// fabric register beside the RAM select (the RAMs of a bank are block RAMs apart), then
// through the select in two registered steps, groups of up to four RAMs and then the groups
// (the array's input register is farther still). Writes: the write port's enable, address and
// data are registered as they come in, rotated onto the slots in two registered steps, then
// copied once per pair of banks and once per bank (kept: one set of write registers would fan
// out to ROWS block RAMs spread over the chip), so a word is written five cycles after it is
// presented (two when WORDS = 1); nothing reads it that early (the controller reads a layer's
// input only after the previous descriptor has finished). The banks are block RAM
// (BLOCK_RAM): as LUT RAM, ROWS x WORDS small RAMs cost thousands of LUTs and slow reads.
module accel_amem #(
    parameter int ROWS  = 4,
    parameter int WIDTH = 32,     // bits of one word (LANES * ACT_BITS)
    parameter int WORDS = 1,      // words per write, a power of two <= DEPTH
    parameter int DEPTH = 1024,   // words, a power of two
    parameter int AA    = (DEPTH > 1) ? $clog2(DEPTH) : 1
) (
    input  wire                    clk,
    input  wire [WORDS-1:0]        we_in,
    input  wire [AA-1:0]           waddr_in,
    input  wire [WORDS*WIDTH-1:0]  wdata_in,
    input  wire [ROWS*AA-1:0]      raddr,
    output wire [ROWS*WIDTH-1:0]   rdata
);
    logic [WORDS-1:0] we;
    logic [AA-1:0] waddr;
    logic [WORDS*WIDTH-1:0] wdata;
    always_ff @(posedge clk) begin
        we <= we_in;
        waddr <= waddr_in;
        wdata <= wdata_in;
    end

    if (WORDS == 1) begin : g_single
        logic we_q;
        logic [AA-1:0] wa_q;
        logic [WIDTH-1:0] wd_q;
        always_ff @(posedge clk) begin
            we_q <= we[0];
            wa_q <= waddr;
            wd_q <= wdata;
        end
        for (genvar r = 0; r < ROWS; r++) begin : g_bank
            wire [WIDTH-1:0] ram_q;
            logic [AA-1:0] ra_b, ra_q;
            logic [WIDTH-1:0] ram_q2, ram_f, mid_q, out_q;   // the places of the fabric copy and the group select
            accel_sdpram #(.WIDTH(WIDTH), .DEPTH(DEPTH), .BLOCK_RAM(1)) u_ram (
                .clk(clk), .we(we_q), .waddr(wa_q), .wdata(wd_q),
                .raddr(ra_q), .rdata(ram_q));
            always_ff @(posedge clk) begin
                ra_b <= raddr[r*AA +: AA];
                ra_q <= ra_b;
                ram_q2 <= ram_q;
                ram_f <= ram_q2;
                mid_q <= ram_f;
                out_q <= mid_q;
            end
            assign rdata[r*WIDTH +: WIDTH] = out_q;
        end
    end else begin : g_multi
        localparam int SB = $clog2(WORDS);
        localparam int SA = AA - SB;
        // Two layouts of a bank (rows of WORDS words). P = 1: one RAM per slot (column) of a
        // row, each with its own write address. P = 2, for words narrow enough that a block RAM's
        // 36-bit write port (four 9-bit byte lanes) takes RS > 1 of them: RAMs by row parity and by
        // group of RS slots, each written RS words at once (byte enables) and read one word at a
        // time (ports of two widths). A write's rows hi and hi + 1 fall one in each parity. An
        // 8 x 8 int8 build needs 32 block RAMs instead of 64, whose read data (8 bits per RAM)
        // is no wider than before.
        localparam int LANES9 = (WIDTH + 8) / 9;                        // byte lanes per word
        localparam int RS_FIT = (LANES9 <= 4) ? 4 / LANES9 : 1;         // 4, 2, 1 (3 lanes: 1)
        localparam int P = (WORDS >= 2 && RS_FIT >= 2 && DEPTH >= 4 * WORDS) ? 2 : 1;
        localparam int RS = (P == 1) ? 1 : (WORDS < RS_FIT) ? WORDS : RS_FIT;   // slots per RAM
        localparam int NH = WORDS / RS;               // RAMs per parity
        localparam int NRAM = P * NH;                 // RAMs per bank
        localparam int XB = SB + P - 1;               // low address bits: parity, group, slot
        localparam int RSB = $clog2(RS);              // of which the slot in the RAM's write word
        localparam int RA = AA - XB;                  // address bits of a row in one RAM
        // Slot s takes write word (s - lo) mod WORDS, lo = waddr mod WORDS, at address
        // waddr / WORDS, plus one where s < lo (the words that wrapped): the write row rotated by
        // lo. The rotation takes two registered steps, by the high bits of lo (4 * lh, up to a
        // 4:1 choice) and then by the low two (ll), so each step is one slice of multiplexers per
        // bit; the wrap flags are registered beside the first step, the address increment in
        // the second.
        localparam int LL = (SB < 2) ? SB : 2;
        logic [WORDS*WIDTH-1:0] wdata_rot;   // rotated by 4 * lh
        logic [WORDS-1:0] we_rot;
        logic [SA-1:0] hi_q;
        logic [WORDS-1:0] wrap;
        wire [SB-1:0] lo = waddr[SB-1:0];
        // lo in a kept copy per word for each step (as waddr, then a cycle later): one register
        // steering all WORDS x (WIDTH + 1) multiplexers was the block's worst path.
        logic [SB-1:0] lo_a [WORDS];
        logic [SB-1:0] lo_b [WORDS];
        (* keep *)
        always_ff @(posedge clk) begin
            for (int t = 0; t < WORDS; t++) begin
                lo_a[t] <= waddr_in[SB-1:0];
                lo_b[t] <= lo_a[t];
            end
        end
        localparam logic [SB-1:0] LOW_MASK = SB'((1 << LL) - 1);
        always_ff @(posedge clk) begin
            for (int t = 0; t < WORDS; t++) begin
                we_rot[t] <= we[SB'(SB'(t) - (lo_a[t] & ~LOW_MASK))];
                wdata_rot[t*WIDTH +: WIDTH] <= wdata[int'(SB'(SB'(t) - (lo_a[t] & ~LOW_MASK)))*WIDTH +: WIDTH];
                /* verilator lint_off CMPCONST */   // constant for t = 0
                wrap[t] <= SB'(t) < lo;
                /* verilator lint_on CMPCONST */
            end
            hi_q <= waddr[AA-1:SB];
        end
        // The second step: the rotated words (shared by both layouts), and each RAM's write
        // enables and row.
        logic [WIDTH-1:0] wd_q [WORDS];
        logic [RS-1:0] ram_we_q [NRAM];
        logic [RA-1:0] ram_wa_q [NRAM];
        always_ff @(posedge clk)
            for (int s = 0; s < WORDS; s++)
                wd_q[s] <= wdata_rot[int'(SB'(SB'(s) - (lo_b[s] & LOW_MASK)))*WIDTH +: WIDTH];
        wire [WORDS-1:0] we_slot;   // slot s's write enable, rotated like its word
        for (genvar s = 0; s < WORDS; s++) begin : g_we_slot
            assign we_slot[s] = we_rot[SB'(SB'(s) - (lo_b[s] & LOW_MASK))];
        end
        if (P == 1) begin : g_column_rams
            // RAM s holds slot s of every row: written at row hi, or hi + 1 where the slot wrapped.
            always_ff @(posedge clk)
                for (int s = 0; s < WORDS; s++) begin
                    ram_we_q[s] <= we_slot[s];
                    ram_wa_q[s] <= hi_q + SA'(wrap[s]);
                end
        end else begin : g_parity_rams
            // RAM n = p * NH + h holds slots h * RS .. h * RS + RS - 1 of the rows of parity p:
            // it writes row hi or hi + 1, whichever has parity p, with that row's slots enabled.
            always_ff @(posedge clk)
                for (int n = 0; n < NRAM; n++) begin
                    for (int k = 0; k < RS; k++)   // slot (n % NH) * RS + k
                        ram_we_q[n][k] <= we_slot[(n % NH) * RS + k]
                                          && ((hi_q[0] ^ wrap[(n % NH) * RS + k]) == (n >= NH));
                    ram_wa_q[n] <= hi_q[SA-1:1] + RA'(n < NH && hi_q[0]);
                end
        end
        // Each RAM of every bank takes the same write: one register per pair of banks between
        // the steering and the banks' own copies (kept), as the banks spread over the chip.
        localparam int PAIRS = (ROWS + 1) / 2;
        logic [RS-1:0] pair_we [PAIRS][NRAM];
        logic [RA-1:0] pair_wa [PAIRS][NRAM];
        logic [WORDS*WIDTH-1:0] pair_wd [PAIRS];
        for (genvar q = 0; q < PAIRS; q++) begin : g_pair
            (* keep *)
            always_ff @(posedge clk) begin
                for (int n = 0; n < NRAM; n++) begin
                    pair_we[q][n] <= ram_we_q[n];
                    pair_wa[q][n] <= ram_wa_q[n];
                end
                for (int s = 0; s < WORDS; s++) pair_wd[q][s*WIDTH +: WIDTH] <= wd_q[s];
            end
        end
        for (genvar r = 0; r < ROWS; r++) begin : g_bank
            localparam int G = (NRAM < 4) ? NRAM : 4;   // RAMs per group of the read select
            localparam int NG = NRAM / G;
            localparam int GB = $clog2(G);
            localparam int NB = XB - RSB;               // read select bits (log2 NRAM)
            wire [WIDTH-1:0] ram_q [NRAM];
            logic [WIDTH-1:0] sub_q [NRAM];    // the RAM's output register
            logic [WIDTH-1:0] sub_f [NRAM];    // its copy beside the select
            logic [AA-1:0] ra_b;               // the bank's read address, before the per-RAM copies
            logic [WIDTH-1:0] grp_q [NG];
            logic [NB-1:0] sel_b, sel_a, sel, sel_q, sel_g;
            logic [WIDTH-1:0] out_q;
            wire [RA+RSB-1:0] ra_ram;          // the word in one RAM: the row, then the slot
            if (RSB == 0) begin : g_ra_row
                assign ra_ram = ra_b[AA-1:XB];
            end else begin : g_ra_row_slot
                assign ra_ram = {ra_b[AA-1:XB], ra_b[RSB-1:0]};
            end
            always_ff @(posedge clk) begin
                ra_b <= raddr[r*AA +: AA];
                sel_b <= sel_a;
                sel_a <= ra_b[XB-1:RSB];
                sel <= sel_b;
                sel_q <= sel;
                sel_g <= sel_q;
                for (int n = 0; n < NRAM; n++) sub_q[n] <= ram_q[n];
                for (int n = 0; n < NRAM; n++) sub_f[n] <= sub_q[n];
                for (int g = 0; g < NG; g++) grp_q[g] <= sub_f[g * G + int'(sel_q[GB-1:0])];
            end
            if (NG == 1) begin : g_one_group
                wire unused_sel = &{1'b0, sel_g};
                always_ff @(posedge clk) out_q <= grp_q[0];
            end else begin : g_groups
                wire unused_sel = &{1'b0, sel_g[GB-1:0]};   // the group's own select was applied a cycle earlier
                always_ff @(posedge clk) out_q <= grp_q[sel_g[NB-1:GB]];
            end
            for (genvar n = 0; n < NRAM; n++) begin : g_sub
                localparam int WD_LO = (n % NH) * RS * WIDTH;   // the slots RAM n writes
                logic [RS-1:0] bank_we;
                logic [RA-1:0] bank_wa;
                logic [RA+RSB-1:0] bank_ra;
                logic [RS*WIDTH-1:0] bank_wd;
                (* keep *)
                always_ff @(posedge clk) begin
                    bank_we <= pair_we[r/2][n];
                    bank_wa <= pair_wa[r/2][n];
                    bank_wd <= pair_wd[r/2][WD_LO +: RS*WIDTH];
                    bank_ra <= ra_ram;
                end
                accel_sdpram #(.WIDTH(WIDTH), .DEPTH(DEPTH / NRAM), .BLOCK_RAM(1), .WRITE_WORDS(RS)) u_ram (
                    .clk(clk), .we(bank_we), .waddr(bank_wa), .wdata(bank_wd),
                    .raddr(bank_ra), .rdata(ram_q[n]));
            end
            assign rdata[r*WIDTH +: WIDTH] = out_q;
        end
    end
endmodule
`default_nettype wire
