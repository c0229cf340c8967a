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
// Reads: read data seven cycles after the address (AMEM_READ in accel_top). The address is registered once per bank, then
// once per block RAM (kept copies: one register per bank would fan out to WORDS block RAMs spread
// over the chip). The RAM's read data goes straight into a register (the block RAM's own output
// register on ECP5, see codesign.ecp5_pack: a block-RAM read without it is 5.8 ns), then into a
// fabric register beside the sub-bank select (the sub-banks of a bank are block RAMs apart), then
// through the select in two registered steps, groups of up to four sub-banks and then the groups
// (the array's input register is farther still). Writes: the write port's enable, address and data are registered as they come in, again beside the steering
// decode, again after the sub-bank steering, then once more per bank (kept copies: one set of
// write registers would fan out to ROWS block RAMs spread over the chip), so a word is written
// four cycles after it is presented (two when WORDS = 1); nothing reads it that early
// (the controller reads a layer's input only after the previous descriptor has finished). The banks are block RAM
// (BLOCK_RAM): as LUT RAM, ROWS x WORDS small sub-banks cost thousands of LUTs and slow reads.
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
        // Sub-bank s takes write word w = (s - waddr) mod WORDS, at address (waddr + w) / WORDS,
        // i.e. waddr / WORDS, plus one where s < waddr mod WORDS (the words that wrapped). w and
        // the wrap flag are registered from the registered write (the write-port multiplexer in
        // front of it comes from three places), beside a second copy of the write, so the
        // steering stage is one multiplexer per data bit and one incrementer per sub-bank.
        logic [SB-1:0] w_of [WORDS];
        logic wrap [WORDS];
        logic [WORDS-1:0] we1;
        logic [AA-1:0] waddr1;
        logic [WORDS*WIDTH-1:0] wdata1;
        always_ff @(posedge clk) begin
            we1 <= we;
            waddr1 <= waddr;
            wdata1 <= wdata;
        end
        wire unused_lo = &{1'b0, waddr1[SB-1:0]};   // taken into w_of and wrap
        logic we_q [WORDS];
        logic [SA-1:0] wa_q [WORDS];
        logic [WIDTH-1:0] wd_q [WORDS];
        for (genvar s = 0; s < WORDS; s++) begin : g_wsel
            always_ff @(posedge clk) begin
                w_of[s] <= SB'(s) - waddr[SB-1:0];
                /* verilator lint_off CMPCONST */   // constant for s = 0
                wrap[s] <= SB'(s) < waddr[SB-1:0];
                /* verilator lint_on CMPCONST */
                we_q[s] <= we1[w_of[s]];
                wa_q[s] <= waddr1[AA-1:SB] + SA'(wrap[s]);
                wd_q[s] <= wdata1[w_of[s]*WIDTH +: WIDTH];
            end
        end
        for (genvar r = 0; r < ROWS; r++) begin : g_bank
            localparam int G = (WORDS < 4) ? WORDS : 4;   // sub-banks per group
            localparam int NG = WORDS / G;
            localparam int GB = $clog2(G);
            wire [WIDTH-1:0] ram_q [WORDS];
            logic [WIDTH-1:0] sub_q [WORDS];   // the RAM's output register
            logic [WIDTH-1:0] sub_f [WORDS];   // its copy beside the select
            logic [AA-1:0] ra_b;               // the bank's read address, before the per-RAM copies
            logic [WIDTH-1:0] grp_q [NG];
            logic [SB-1:0] sel_b, sel_a, sel, sel_q, sel_g;
            logic [WIDTH-1:0] out_q;
            always_ff @(posedge clk) begin
                ra_b <= raddr[r*AA +: AA];
                sel_b <= sel_a;
                sel_a <= ra_b[SB-1:0];
                sel <= sel_b;
                sel_q <= sel;
                sel_g <= sel_q;
                for (int s = 0; s < WORDS; s++) sub_q[s] <= ram_q[s];
                for (int s = 0; s < WORDS; s++) sub_f[s] <= sub_q[s];
                for (int g = 0; g < NG; g++) grp_q[g] <= sub_f[g * G + int'(sel_q[GB-1:0])];
            end
            if (NG == 1) begin : g_one_group
                wire unused_sel = &{1'b0, sel_g};
                always_ff @(posedge clk) out_q <= grp_q[0];
            end else begin : g_groups
                wire unused_sel = &{1'b0, sel_g[GB-1:0]};   // the group's own select was applied a cycle earlier
                always_ff @(posedge clk) out_q <= grp_q[sel_g[SB-1:GB]];
            end
            for (genvar s = 0; s < WORDS; s++) begin : g_sub
                logic bank_we;
                logic [SA-1:0] bank_wa, bank_ra;
                logic [WIDTH-1:0] bank_wd;
                (* keep *)
                always_ff @(posedge clk) begin
                    bank_we <= we_q[s];
                    bank_wa <= wa_q[s];
                    bank_wd <= wd_q[s];
                    bank_ra <= ra_b[AA-1:SB];
                end
                accel_sdpram #(.WIDTH(WIDTH), .DEPTH(DEPTH / WORDS), .BLOCK_RAM(1)) u_ram (
                    .clk(clk), .we(bank_we), .waddr(bank_wa), .wdata(bank_wd),
                    .raddr(bank_ra), .rdata(ram_q[s]));
            end
            assign rdata[r*WIDTH +: WIDTH] = out_q;
        end
    end
endmodule
`default_nettype wire
