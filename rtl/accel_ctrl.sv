`default_nettype none
// Controller: runs a chain of layer descriptors from the descriptor memory without the host.
//
// Per GEMM descriptor (fields in docs/ACCELERATOR.md): for every column tile nt, read its
// weight-list header (step count S), then for every row tile mt issue the S weight steps of the
// list, after max(ROWS - S, 0) bubbles, the last step flagged so the array closes the output tile.
// Each weight step word carries an activation address offset g (the K group for a dense layer,
// (kh*W + kw)*CG + cg for a Conv2D): array row i reads its own activation bank at
// a_base + (mt*ROWS + i)*KG + g, KG being the row stride of the descriptor (the groups per sample
// of a dense layer, the groups per pixel CG of a conv: im2col by address generation). Finished
// rows go through the PPUs (bias row read at b_base + nt) and are written to o_base + m*NT + nt
// (rows m >= M are dropped; not at all with no_omem) and, with write_back, as activations to wb_base + m*KG_out +
// nt*COLS/LANES (accel_abuf), a whole row of the activation memory each (KG_out = NT*COLS/LANES).
// Then, if the descriptor says so, the results are streamed out.
// A pool descriptor hands the activation memory to accel_pool until it is done. The chain ends at
// a descriptor flagged last.
//
// Error status (`error`, codesign.accel.status; cleared by start, sticky within a run): a GEMM
// descriptor with M, N, MT, NT or KG zero, or a pool descriptor with B, CG, out_h, out_w, PH or PW
// zero (BAD_DESCRIPTOR); a weight-list header with no steps (ZERO_STEPS); a base address with a
// bit set at or above its memory's address width, or a chain past the last descriptor word
// without `last` (ADDRESS_RANGE); a load beat or read-out command the loader dropped during a run
// (BUSY_COMMAND). A program fault ends the run at the faulty descriptor (state FAULT: the rows in
// flight drain, then done): a descriptor fault before any of its steps is issued (HDRD of its
// first column tile) or before the pool starts reading (accel_pool's abort), a zero-step header
// after one pass of bubbles (nothing valid is issued; the column tiles before it are complete).
// The checks are registers computed in stages from the registered descriptor (dmem_rdata), free
// running: nothing is added in front of the loop counters or the RAM addresses, and a good program
// takes the cycles it takes without them.
//
// Cycle count of a run (perf_cycles, equal to start -> done when nothing is streamed out):
// codesign.accel.golden.layer_cycles / pool_cycles, the one place it is kept (docs/ACCELERATOR.md,
// "Cycle formula").
module accel_ctrl #(
    parameter int ROWS        = 4,
    parameter int COLS        = 4,
    parameter int LANES       = 4,
    parameter int ABUF_WORDS  = (COLS >= LANES) ? COLS / LANES : 1,   // words per write-back row (LANES | COLS)
    parameter int WE          = 9,    // bits per column in a weight step word ({idx, weight})
    parameter int WMEM_W      = 52,
    parameter int DA          = 4,    // address bits of the memories
    parameter int AA          = 10,
    parameter int WA          = 10,
    parameter int BA          = 6,
    parameter int OA          = 10,
    parameter int AMEM_READ   = 7     // cycles from an activation-memory read address to its data (accel_amem)
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  start,
    // memories
    output wire [DA-1:0]         dmem_raddr,
    input  wire [319:0]          dmem_rdata,
    output wire [WA-1:0]         wmem_raddr,
    input  wire [WMEM_W-1:0]     wmem_rdata,
    output logic [ROWS*AA-1:0]   amem_raddr,   // one address per array row (bank)
    output wire [BA-1:0]         bmem_raddr,
    output logic                 omem_we,      // with the PPU output row
    output logic [OA-1:0]        omem_waddr,
    // array step, aligned with the activation memory's read data
    output wire                  step_valid,
    output wire                  step_last,
    output wire [COLS*WE-1:0]    step_w,
    // layer configuration
    output logic                 act_signed,
    output logic                 relu,
    output logic                 out_signed,
    output logic [1:0]           rounding,
    output logic [5:0]           shift,
    output logic [5:0]           out_bits,
    // rows entering and leaving the PPUs
    input  wire                  ppu_in_next,    // a result row enters the PPUs next cycle
    input  wire                  ppu_out_next,   // a PPU result row comes out next cycle
    // write-back of results into the activation memory (accel_abuf)
    output logic                 abuf_valid,    // write this output row back (with the PPUs' output)
    output logic [AA-1:0]        abuf_base,
    // pooling unit (accel_pool): started in DWAIT of a pool descriptor
    output logic                 pool_start,
    output logic                 pool_abort,     // with the pool's registered start: a faulty pool descriptor
    input  wire                  pool_done,
    // result read-out
    output logic                 stream_start,
    output logic [OA-1:0]        stream_base,
    output logic [15:0]          stream_rows,
    output logic [15:0]          stream_cols,
    input  wire                  stream_finished,
    // status
    output logic                 busy,         // state != IDLE, a flip-flop of its own (a pin)
    output logic                 done,
    output logic [31:0]          perf_cycles,
    input  wire                  cmd_dropped,  // the loader dropped a beat or a read-out (it came while busy)
    output logic [3:0]           error         // codesign.accel.status
);
    logic perf_restart;              // perf_cycles restarts
    logic counting;                  // busy and not in STREAM: perf_cycles counts this cycle
    localparam int GF = WMEM_W - COLS * WE;   // width of the group / step-count field

    typedef enum logic [3:0] {IDLE, DFETCH, DREAD, DWAIT, HDR, HDRW, HDRQ, HDRD, HDRS, ISSUE, DRAIN, STREAM, NEXT, POOL,
                              FAULT} state_t;
    state_t state;

    // Descriptor fields.
    logic [15:0] m_rows, n_cols, nt_count, kg;
    logic [15:0] mt_count;                     // row tiles MT
    logic mt_one, nt_one;                      // MT == 1, NT == 1 (free-running)
    logic hdr_first;                           // the descriptor's first column tile header
    logic stream_out, last_desc, to_amem, no_omem;
    logic [AA-1:0] a_base;
    logic [OA-1:0] o_base;
    wire [31:0] d0 = dmem_rdata[31:0];
    wire [31:0] d1 = dmem_rdata[63:32];
    wire [31:0] d2 = dmem_rdata[95:64];
    wire [31:0] d3 = dmem_rdata[127:96];
    wire [31:0] d4 = dmem_rdata[159:128];
    wire [31:0] d5 = dmem_rdata[191:160];
    wire [31:0] d6 = dmem_rdata[223:192];
    wire [31:0] d7 = dmem_rdata[255:224];
    wire [31:0] d8 = dmem_rdata[287:256];
    wire [31:0] d9 = dmem_rdata[319:288];
    wire unused_d = &{1'b0, d2[31:24], d3[31:22], d3[15:10], d3[7:6], d9[31:16], kg, kg_out, nt_count};

    // ---------------- descriptor checks (error status) ----------------
    // Free-running stages from the registered descriptor: stage 1 is valid the cycle after DWAIT
    // (the first HDR or POOL cycle), stage 2 the cycle after, and so on. dmem_rdata holds the
    // descriptor until NEXT (the loader drops descriptor writes while busy).
    localparam int ST_BAD_DESC = 0, ST_ZERO_STEPS = 1, ST_RANGE = 2, ST_BUSY_CMD = 3;
    // A base field's bits at or above its memory's address width, per byte.
    function automatic logic [3:0] high_bytes(input logic [31:0] field, input int bits);
        logic [31:0] high;
        high = field & ~((32'd1 << bits) - 32'd1);
        high_bytes = {|high[31:24], |high[23:16], |high[15:8], |high[7:0]};
    endfunction
    logic [5:0] z_s1;                 // zero: d0 low / high, d1 low / high, PH (d2[7:0]), PW (d2[15:8])
    logic [3:0] hi_a_s1, hi_w_s1, hi_b_s1, hi_o_s1, hi_wb_s1;
    logic wb_s1, wb_s2;               // write_back
    logic zero4_s2, zph_s2, zpw_s2;   // M, N, MT or NT (B, CG, out_h or out_w) zero; PH zero; PW zero
    logic hi_a_s2, hi_w_s2, hi_b_s2, hi_o_s2, hi_wb_s2;
    logic pool_zero_s2, pool_range_s2;
    logic gemm_zero_s3, gemm_range_s3;
    logic halt;                       // the GEMM descriptor stops here (a fault; stage 4, valid in the first HDRD)
    logic zero_seen;                  // a header of this descriptor had no steps
    logic pool_p1, pool_bad;          // pool_start a cycle later; the pool descriptor is faulty (a cycle after that)
    logic didx_end, end_chain, chain_fault;   // didx at the last DMEM word; last or that; that without last
    always_ff @(posedge clk) begin
        z_s1 <= {d2[15:8] == 8'd0, d2[7:0] == 8'd0, d1[31:16] == 16'd0, d1[15:0] == 16'd0,
                 d0[31:16] == 16'd0, d0[15:0] == 16'd0};
        hi_a_s1 <= high_bytes(d4, AA);
        hi_w_s1 <= high_bytes(d5, WA);
        hi_b_s1 <= high_bytes(d6, BA);
        hi_o_s1 <= high_bytes(d7, OA);
        hi_wb_s1 <= high_bytes(d8, AA);
        wb_s1 <= d2[21];
        zero4_s2 <= |z_s1[3:0];
        {zpw_s2, zph_s2} <= z_s1[5:4];
        {hi_a_s2, hi_w_s2, hi_b_s2, hi_o_s2, hi_wb_s2} <= {|hi_a_s1, |hi_w_s1, |hi_b_s1, |hi_o_s1, |hi_wb_s1};
        wb_s2 <= wb_s1;
        pool_zero_s2 <= |z_s1;
        pool_range_s2 <= |{hi_a_s1, hi_wb_s1};
        pool_abort <= |{z_s1, hi_a_s1, hi_wb_s1};
        gemm_zero_s3 <= zero4_s2 || (zph_s2 && zpw_s2);
        gemm_range_s3 <= hi_a_s2 || hi_w_s2 || hi_b_s2 || hi_o_s2 || (hi_wb_s2 && wb_s2);
        halt <= gemm_zero_s3 || gemm_range_s3 || zero_seen;
        pool_p1 <= pool_start;
        pool_bad <= pool_p1 && pool_abort;
        didx_end <= &didx;
        end_chain <= last_desc || didx_end;
        chain_fault <= !last_desc && didx_end;
    end
    // FAULT waits for the rows in flight (at most a drain, codesign.accel.golden.drain_cycles) before done.
    localparam int FAULT_WAIT = 48 + ROWS + COLS;
    logic signed [8:0] fault_wait;
    always_ff @(posedge clk) fault_wait <= (state == FAULT) ? fault_wait - 9'sd1 : 9'(FAULT_WAIT - 2);

    // Issue side.
    logic [DA-1:0] didx;
    logic [WA-1:0] wp, w_origin;
    logic [WA-1:0] wp_p1, wp_p1_mrows;         // wp + 1 and wp + 1 - ROWS, registered every cycle
    logic [WA-1:0] wp_c;                       // wp's copy beside those two adders (wp fans out far)
    logic [15:0] pad, k;
    // Loop ends kept in registers (set when the counter steps onto its last value), so the issue
    // loop's updates depend on flip-flops only: k == k_last, mt == MT-1, nt == NT-1. k_end is the
    // sign of a down counter (k_last - 1 - k), not a compare of k (k_last = max(S, ROWS) - 1), so
    // no 16-bit compare sits in front of the loop.
    logic mt_end, nt_end;
    logic signed [16:0] k_rem, k_last_m1;      // k_last - 1 - k, k_last - 1
    wire k_end = k_rem[16];
    // The row and column tile counters count down from MT - 3 / NT - 3 (the `_rem` registers): a
    // counter's sign is set once the tile it counts is the one before the last, which is all the
    // loop asks of it before it steps (the counter is below its last value then), so no 16-bit
    // equality LUT chain sits in front of the loop-end flags.
    logic signed [16:0] mt_rem, nt_rem;        // MT - 3 - mt, NT - 3 - nt
    logic signed [16:0] mt_last_m3, nt_last_m3;   // MT - 3, NT - 3 (free-running)
    wire mt_eq = mt_rem[16];                   // mt == MT - 2
    wire nt_eq = nt_rem[16];                   // nt == NT - 2
    // Read addresses of the weight and bias memories, kept in registers (no adder in front of a
    // block RAM's address): w_raddr = wp in HDR, w_origin + k while issuing; b_raddr = b_base + the column tile at the PPU input.
    // w_raddr steps by one per issued step; what else it takes (the restart at a pass's end, the
    // tile's first step in HDRS, w_base in DWAIT) is chosen from registers beside the adder
    // (w_hold), so the adder feeds one LUT.
    logic [WA-1:0] w_raddr;
    wire [WA-1:0] w_hold;
    // The weight address after a pass (k_end): the next column tile's header after the last row
    // tile, else the tile's first step again. Registered every cycle: with ROWS >= 2 its inputs
    // (set in HDRS and at a pass's end) are stable a cycle before the next k_end, so the address
    // update sees a register, not the loop-end decode.
    logic [WA-1:0] w_restart_q;
    wire [WA-1:0] w_restart = (ROWS == 1) ? ((mt_end && !nt_end) ? wp : w_origin) : w_restart_q;
    logic [BA-1:0] b_raddr;
    logic [AA-1:0] aoff, tile_stride;
    logic [AA-1:0] row_off [ROWS];   // i * KG: row i's first word relative to its tile's

    // KG * i (i = 0..ROWS) as shifts and adds of the registered KG: no multiplier (a DSP block
    // timed as 3.9 ns of logic) in front of the row offsets, and a register after every two bits
    // of i. The adds run freely: KG is set in DWAIT and the offsets are first used by the first
    // step's row addresses six cycles later; ceil(IB / 2) <= 4 stages plus row_off fit (ROWS <= 64).
    localparam int IB = $clog2(ROWS + 1);
    localparam int NS = (IB + 1) / 2;
    wire [AA-1:0] kg_aa = AA'(kg);
    wire [AA-1:0] kg_times [ROWS+1];
    for (genvar i = 0; i <= ROWS; i++) begin : g_kg_times
        logic [AA-1:0] stage [NS];   // KG * (i mod 4^(j+1))
        always_ff @(posedge clk) begin
            for (int j = 0; j < NS; j++) begin
                stage[j] <= ((j == 0) ? AA'(0) : stage[(j == 0) ? 0 : j - 1])
                            + ((((i >> (2 * j)) & 1) != 0) ? kg_aa << (2 * j) : AA'(0))
                            + ((((i >> (2 * j + 1)) & 1) != 0) ? kg_aa << (2 * j + 1) : AA'(0));
            end
        end
        assign kg_times[i] = stage[NS-1];
    end

    assign dmem_raddr = didx;
    assign wmem_raddr = w_raddr;

    // state == ISSUE in kept copies, one per group of registers the issue loop steers (the step
    // pipeline, the step counter, the weight address, the tile counters): one state bit would fan
    // out to all of them, nanoseconds of routing before any logic. Each copy follows the state:
    // set from HDRS, cleared at the last pass's end.
    logic iss_v, iss_k, iss_w, iss_t;
    wire leave_issue = k_end && mt_end;
    (* keep *)
    always_ff @(posedge clk) begin
        if (rst) {iss_v, iss_k, iss_w, iss_t} <= '0;
        else begin
            iss_v <= state == HDRS || (iss_v && !leave_issue);
            iss_k <= state == HDRS || (iss_k && !leave_issue);
            iss_w <= state == HDRS || (iss_w && !leave_issue);
            iss_t <= state == HDRS || (iss_t && !leave_issue);
        end
    end
    // A pass is max(S, ROWS) cycles: bubbles first, then the S steps, so the last steps of any
    // two passes (also across column tiles) are at least ROWS cycles apart.
    wire iss_valid = iss_v && (k >= pad);
    // The weight memory's read data is registered before any logic (timing): wq is the word
    // addressed two cycles earlier.
    logic [WMEM_W-1:0] wq;
    wire [15:0] g_field = 16'(wq[WMEM_W-1 -: GF]);
    // The header's step count S = g_field, copied (g_hdr: wq's header bits also feed every row's
    // group copy) and decoded into registers every cycle (a comparison and four adds side by
    // side; wq holds the header in HDRQ and HDRD, HDRS uses the values computed in HDRD), so no
    // comparator drives a wide multiplexer.
    logic [15:0] g_hdr;
    logic g_gt_rows;                           // S > ROWS
    logic [15:0] g_m2, g_pad;                  // S - 2, ROWS - S
    logic [WA-1:0] wp_next, w_after_pad;       // wp + 1 + S, wp + 1 + S - ROWS
    // S == 0 (a fault), and MT == 1 || S == 0: HDRS's value of mt_end, so a zero-step list takes
    // one pass of bubbles (no valid step) whatever MT is.
    logic g_zero, mt_first_end;
    wire [WA-1:0] w_first = g_gt_rows ? wp_p1 : w_after_pad;   // the tile's first step read

    // Step pipeline: W read data arrives one cycle after issue and is registered (wq), its group
    // is copied per row, the activation address is registered the cycle after that, and the
    // activation read data arrives AMEM_READ cycles later (accel_amem's address copies, output
    // and select registers; ISSUE_LATENCY in codesign.accel.golden).
    // The step's `last` flag is formed one stage in, from plain copies of ISSUE (iss_v) and k_end
    // (iss_q, k_end_q): formed in front of l0, its LUT would be shared with k_end's own update and
    // placed by l0, across the chip.
    logic v0, iss_q, k_end_q, v1, l1, v2, l2, v3, l3;
    logic [AA-1:0] aoff0, aoff1;
    logic [AA-1:0] row_base [ROWS];      // aoff + row_off[i], one cycle before g is added
    // The step's group g (from wq) in one register per row: wq sits by the weight memory, the
    // row adders by the activation banks.
    logic [AA-1:0] g_row [ROWS];
    logic [COLS*WE-1:0] w2, w3;
    // The step waits beside the activation read (v3/l3/w3 go with amem_raddr).
    accel_delay #(.WIDTH(2 + COLS * WE), .DEPTH(AMEM_READ)) u_step_delay (
        .clk(clk), .rst(rst), .d({v3, l3, w3}), .q({step_valid, step_last, step_w}));

    // Output side (row counters at the PPU input for the bias, at the PPU output for the address).
    logic signed [16:0] mt_in_rem, mt_out_rem, nt_out_rem;   // MT - 3 - mt_in, ... (as mt_rem)
    // The row of the tile at the PPU input / output, one-hot (bit r: row r is next), so the last
    // row and the one before it are flip-flops, not compares in front of the tile-end updates.
    logic [ROWS-1:0] i_in_hot, i_out_hot;
    localparam int PEN = (ROWS >= 2) ? ROWS - 2 : 0;
    wire i_in_last = i_in_hot[ROWS-1];
    wire i_out_last = i_out_hot[ROWS-1];
    logic mt_in_last;              // mt_in == MT - 1, kept in a register
    logic m_ok;                    // the row (m) is < M, kept in a register (it drives a RAM write enable)
    // mt_out == MT - 1, kept in a register (it steers wide updates), and the tile's last output
    // row (i_out_last && mt_out_last) in a register of its own: as a decode it shared its LUTs
    // with the write-back updates by the activation memory and was the worst path.
    logic mt_out_last, out_tile_end;
    function automatic logic [ROWS-1:0] rotate(input logic [ROWS-1:0] hot);
        rotate = (hot << 1) | (hot >> (ROWS - 1));
    endfunction
    wire mt_in_eq = mt_in_rem[16];
    wire mt_out_eq = mt_out_rem[16];
    wire nt_out_eq = nt_out_rem[16];
    // The output-row flags after this row (used when a row leaves the PPUs).
    wire i_out_last_next = i_out_hot[PEN];   // ROWS == 1: the ring's one bit, always set
    wire mt_out_last_next = i_out_last ? (mt_out_last ? mt_one : mt_out_eq) : mt_out_last;
    // m_ok of the next row (m + 1 < M), so a row-valid step only moves it along, and the one
    // after it as the sign of a down counter, M - 3 - m (no compare in front of m_ok_next).
    logic m_ok_next;
    logic signed [16:0] m_rem, m_rows_m3;   // M - 3 - m, M - 3 (free-running)
    logic m_rows_gt1;              // M > 1 (free-running)
    logic wb_done;
    // Activation write-back: words between written-back output rows (KG_out).
    logic [15:0] kg_out;
    // Counter steps that a tile or pass end takes, registered every cycle (free-running) from
    // counters that step at most once every ROWS cycles: with ROWS >= 2 each has been stable for
    // a cycle when it is taken, so those updates are multiplexers, not adds behind the loop-end
    // decode. ROWS == 1 computes them in place.
    logic signed [16:0] nt_m1_q, mt_m1_q, mt_in_m1_q, mt_out_m1_q;
    logic [BA-1:0] b_raddr_p1_q;
    logic [AA-1:0] aoff_next_q;
    wire signed [16:0] nt_m1 = (ROWS == 1) ? nt_rem - 17'sd1 : nt_m1_q;
    wire signed [16:0] mt_m1 = (ROWS == 1) ? mt_rem - 17'sd1 : mt_m1_q;
    wire signed [16:0] mt_in_m1 = (ROWS == 1) ? mt_in_rem - 17'sd1 : mt_in_m1_q;
    wire signed [16:0] mt_out_m1 = (ROWS == 1) ? mt_out_rem - 17'sd1 : mt_out_m1_q;
    wire [BA-1:0] b_raddr_p1 = (ROWS == 1) ? b_raddr + 1'b1 : b_raddr_p1_q;
    wire [AA-1:0] aoff_next = (ROWS == 1) ? aoff + tile_stride : aoff_next_q;
    // The PPUs' output valid, registered here from its early copy: it enables the output-side
    // counters and addresses, which sit here, far from the PPUs.
    logic ppu_out_valid;
    logic ppu_in_valid;    // the same for the rows entering the PPUs (the bias address)
    // The write enables of a result row (rows m >= M are dropped) and the pool's start leave as
    // flip-flops: the write enables from the PPUs' early valid and m_ok as it will be next cycle
    // (no combinational enable reaches the write-back unit's multiplexer by the activation
    // memory). m_ok_n leaves out HDRW's load of m_ok: no row is in flight in a descriptor's first
    // header.
    logic m_rows_nz;   // M != 0
    wire m_ok_n = !ppu_out_valid ? m_ok : out_tile_end ? m_rows_nz : m_ok_next;
    always_ff @(posedge clk) begin
        if (rst) {abuf_valid, omem_we, pool_start} <= '0;
        else begin
            abuf_valid <= to_amem && ppu_out_next && m_ok_n;
            omem_we <= !no_omem && ppu_out_next && m_ok_n;
            pool_start <= state == DWAIT && d2[22];
        end
    end
    logic [AA-1:0] abuf_nt_next;    // the next column tile's first write-back word
    logic [OA-1:0] o_nt_next;       // o_base + (the next column tile at the PPU output)
    logic nt_out_last;              // nt_out == NT - 1, kept in a register
    assign bmem_raddr = b_raddr;

    // ppu_out_valid and out_tile_end once more for the write-back registers (by the activation
    // memory) and for the output memory's write address (by its block RAMs), kept: one pair would
    // steer about 100 flip-flops across the chip.
    // Each copy is updated as out_tile_end is, below.
    // out_tile_end's two updates: in a descriptor's first header, and as a row leaves the PPUs.
    wire tile_end_first = (ROWS == 1) && mt_one;
    wire tile_end_next = i_out_last_next && mt_out_last_next;
    wire first_header = state == HDR && hdr_first;
    logic first_hdrw;   // first_header a cycle later: the first header's HDRW
    // first_hdrw too, for the same two groups of registers (one flip-flop would drive about 200
    // enables, through LUTs placed between groups 70 columns apart).
    logic row_step_wb, row_step_om, tile_end_wb, tile_end_om, first_hdrw_wb, first_hdrw_om;
    (* keep *)
    always_ff @(posedge clk) begin
        if (rst) begin
            {row_step_wb, row_step_om, tile_end_wb, tile_end_om, first_hdrw_wb, first_hdrw_om} <= '0;
        end else begin
            {row_step_wb, row_step_om} <= {2{ppu_out_next}};
            {first_hdrw_wb, first_hdrw_om} <= {2{first_header}};
            if (row_step_wb) tile_end_wb <= tile_end_next;
            else if (first_hdrw_wb) tile_end_wb <= tile_end_first;
            if (row_step_om) tile_end_om <= tile_end_next;
            else if (first_hdrw_om) tile_end_om <= tile_end_first;
        end
    end

    // The free-running registers (no reset and no enable: each is valid before it is used).
    // wp_p1_mrows is one adder (wp_c - (ROWS - 1), not two chained ones).
    always_ff @(posedge clk) begin
        w_restart_q <= (mt_end && !nt_end) ? wp : w_origin;
        wp_c <= wp;                      // wp is set in DWAIT and HDRS; these are read
        wp_p1 <= wp_c + 1'b1;            // (directly and through wp_next / w_after_pad) in
        wp_p1_mrows <= wp_c - WA'(ROWS - 1);   // HDRS, five cycles later at the earliest
        first_hdrw <= first_header;
        m_rows_nz <= m_rows != 16'd0;
        // From the descriptor's counts (set in DWAIT, first read in the first header's HDRW, two
        // cycles later): the first header loads registers, not subtractors or compares.
        mt_one <= mt_count == 16'd1;
        nt_one <= nt_count == 16'd1;
        m_rows_gt1 <= m_rows > 16'd1;
        mt_last_m3 <= 17'(mt_count) - 17'sd3;
        nt_last_m3 <= 17'(nt_count) - 17'sd3;
        m_rows_m3 <= 17'(m_rows) - 17'sd3;
        nt_m1_q <= nt_rem - 17'sd1;
        mt_m1_q <= mt_rem - 17'sd1;
        mt_in_m1_q <= mt_in_rem - 17'sd1;
        mt_out_m1_q <= mt_out_rem - 17'sd1;
        b_raddr_p1_q <= b_raddr + 1'b1;
        aoff_next_q <= aoff + tile_stride;
    end

    // The weight address: the tile's first step again or the next header after a pass, the next
    // step while issuing (iss_w is clear in DWAIT and HDRS).
    assign w_hold = iss_w ? w_restart : (state == HDRS) ? w_first : (state == DWAIT) ? d5[WA-1:0] : w_raddr;
    always_ff @(posedge clk) begin
        if (rst) w_raddr <= '0;
        else w_raddr <= (iss_w && !k_end) ? w_raddr + 1'b1 : w_hold;
    end

    for (genvar i = 0; i < ROWS; i++) begin : g_group_copy
        (* keep *)
        always_ff @(posedge clk) g_row[i] <= AA'(g_field);
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            state <= IDLE;
            {m_rows, n_cols, nt_count, kg} <= '0;
            mt_count <= '0;
            hdr_first <= 1'b0;
            {stream_out, last_desc, act_signed, relu, out_signed, to_amem, no_omem} <= '0;
            kg_out <= '0;
            tile_stride <= '0;
            for (int i = 0; i < ROWS; i++) row_off[i] <= '0;
            abuf_base <= '0;
            abuf_nt_next <= '0;
            o_nt_next <= '0;
            nt_out_last <= 1'b0;
            rounding <= '0;
            {shift, out_bits} <= '0;
            a_base <= '0;
            o_base <= '0;
            didx <= '0;
            wp <= '0;
            w_origin <= '0;
            {pad, k, mt_rem, nt_rem, k_rem, k_last_m1} <= '0;
            {mt_end, nt_end} <= '0;
            b_raddr <= '0;
            aoff <= '0;
            {v0, iss_q, k_end_q, v1, l1, v2, l2, v3, l3} <= '0;
            {aoff0, aoff1} <= '0;
            for (int i = 0; i < ROWS; i++) row_base[i] <= '0;
            g_gt_rows <= 1'b0;
            {g_m2, g_pad} <= '0;
            {wp_next, w_after_pad} <= '0;
            wq <= '0;
            amem_raddr <= '0;
            {w2, w3} <= '0;
            {mt_in_rem, mt_out_rem, nt_out_rem} <= '0;
            {i_in_hot, i_out_hot} <= {ROWS'(1), ROWS'(1)};
            mt_in_last <= 1'b0;
            {m_ok, m_ok_next} <= '0;
            m_rem <= '0;
            mt_out_last <= 1'b0;
            out_tile_end <= 1'b0;
            wb_done <= 1'b0;
            omem_waddr <= '0;
            stream_start <= 1'b0;
            stream_base <= '0;
            stream_rows <= '0;
            stream_cols <= '0;
            done <= 1'b0;
            busy <= 1'b0;
            error <= '0;
            zero_seen <= 1'b0;
            perf_cycles <= '0;
            {perf_restart, counting} <= '0;
            ppu_out_valid <= 1'b0;
            ppu_in_valid <= 1'b0;
        end else begin
            stream_start <= 1'b0;
            // Counts every cycle outside IDLE and STREAM from one flip-flop (`counting`, set where
            // the state enters and leaves them: no decode in front of the 32-bit count);
            // perf_restart loads the first cycle's count.
            perf_restart <= 1'b0;
            perf_cycles <= perf_restart ? 32'd1 : perf_cycles + 32'(counting);

            // ---------------- descriptor and issue FSM ----------------
            case (state)
                IDLE: if (start) begin
                    didx <= '0;
                    done <= 1'b0;
                    error <= '0;
                    busy <= 1'b1;
                    counting <= 1'b1;
                    perf_restart <= 1'b1;
                    state <= DFETCH;
                end
                DFETCH: state <= DREAD;
                DREAD: state <= DWAIT;   // the descriptor memory's read data is registered once more (accel_top)
                DWAIT: begin
                    m_rows <= d0[15:0];
                    n_cols <= d0[31:16];
                    nt_count <= d1[31:16];
                    mt_count <= d1[15:0];
                    hdr_first <= 1'b1;
                    kg <= d2[15:0];
                    relu <= d2[16];
                    out_signed <= d2[17];
                    act_signed <= d2[18];
                    stream_out <= d2[19];
                    last_desc <= d2[20];
                    to_amem <= d2[21];
                    no_omem <= d2[23];
                    kg_out <= d9[15:0];
                    abuf_base <= d8[AA-1:0];
                    shift <= d3[5:0];
                    rounding <= d3[9:8];
                    out_bits <= d3[21:16];
                    a_base <= d4[AA-1:0];
                    b_raddr <= d6[BA-1:0];
                    o_base <= d7[OA-1:0];
                    wp <= d5[WA-1:0];
                    {i_in_hot, i_out_hot} <= {ROWS'(1), ROWS'(1)};
                    omem_waddr <= d7[OA-1:0];
                    wb_done <= 1'b0;
                    zero_seen <= 1'b0;
                    state <= d2[22] ? POOL : HDR;
                end
                POOL: begin
                    if (pool_p1) begin   // pool_zero_s2 / pool_range_s2 hold this descriptor's checks
                        error[ST_BAD_DESC] <= error[ST_BAD_DESC] | pool_zero_s2;
                        error[ST_RANGE] <= error[ST_RANGE] | pool_range_s2;
                    end
                    if (pool_done) state <= NEXT;
                    else if (pool_bad) state <= FAULT;   // the pool did not start (pool_abort)
                end
                HDR: begin   // KG was registered in DWAIT
                    hdr_first <= 1'b0;
                    state <= HDRW;
                end
                HDRW: begin
                    // What the output side derives from the descriptor's fields is computed in the
                    // first header's second cycle from DWAIT's copies (the descriptor register sits
                    // by the descriptor memory), enabled by a flip-flop of its own (first_hdrw, not
                    // a state decode); nothing uses it before the first step is issued.
                    if (first_hdrw) begin
                        nt_out_last <= nt_one;
                        nt_end <= nt_one;
                        nt_rem <= nt_last_m3;
                        nt_out_rem <= nt_last_m3;
                        mt_in_rem <= mt_last_m3;
                        mt_out_rem <= mt_last_m3;
                        mt_in_last <= mt_one;
                        mt_out_last <= mt_one;
                        out_tile_end <= tile_end_first;
                        m_ok <= m_rows_nz;
                        m_ok_next <= m_rows_gt1;
                        m_rem <= m_rows_m3;
                    end
                    state <= HDRQ;
                end
                HDRQ: state <= HDRD;
                HDRD: begin
                    if (halt) begin
                        error[ST_BAD_DESC] <= error[ST_BAD_DESC] | gemm_zero_s3;
                        error[ST_RANGE] <= error[ST_RANGE] | gemm_range_s3;
                    end
                    state <= halt ? FAULT : HDRS;
                end
                HDRS: begin
                    k_last_m1 <= g_gt_rows ? 17'(g_m2) : 17'(ROWS - 2);
                    k_rem <= g_gt_rows ? 17'(g_m2) : 17'(ROWS - 2);   // -1 (k_end) only with ROWS == 1
                    pad <= g_gt_rows ? 16'd0 : g_pad;
                    wp <= wp_next;                     // the next column tile's header
                    w_origin <= w_first;
                    k <= '0;
                    mt_rem <= mt_last_m3;
                    mt_end <= mt_first_end;
                    aoff <= a_base;
                    if (g_zero) begin
                        zero_seen <= 1'b1;
                        error[ST_ZERO_STEPS] <= 1'b1;
                    end
                    state <= ISSUE;
                end
                ISSUE: if (leave_issue) state <= nt_end ? DRAIN : HDR;   // the loop: below
                DRAIN: if (wb_done) begin
                    counting <= !stream_out;
                    state <= stream_out ? STREAM : NEXT;
                end else if (halt) begin
                    state <= FAULT;   // the last column tile's list had no steps: no rows to wait for
                end
                STREAM: if (stream_finished) begin
                    counting <= 1'b1;
                    state <= NEXT;
                end
                NEXT: begin
                    if (end_chain) begin
                        if (chain_fault) error[ST_RANGE] <= 1'b1;
                        done <= 1'b1;
                        busy <= 1'b0;
                        counting <= 1'b0;
                        state <= IDLE;
                    end else begin
                        didx <= didx + 1'b1;
                        state <= DFETCH;
                    end
                end
                FAULT: if (fault_wait[8]) begin
                    done <= 1'b1;
                    busy <= 1'b0;
                    counting <= 1'b0;
                    state <= IDLE;
                end
                default: begin
                    busy <= 1'b0;
                    counting <= 1'b0;
                    state <= IDLE;
                end
            endcase
            if (cmd_dropped) error[ST_BUSY_CMD] <= 1'b1;
            if (state == DRAIN && wb_done && stream_out) begin
                stream_start <= 1'b1;
                stream_base <= o_base;
                stream_rows <= m_rows;
                stream_cols <= n_cols;
            end

            // The header decode runs every cycle; its registers are read only in HDRS, two
            // cycles after wq first holds the header (no state decode in front of them).
            g_hdr <= g_field;
            g_gt_rows <= g_hdr > 16'(ROWS);
            g_m2 <= g_hdr - 16'd2;
            g_pad <= 16'(ROWS) - g_hdr;
            g_zero <= g_hdr == 16'd0;
            mt_first_end <= mt_one || g_hdr == 16'd0;
            wp_next <= wp_p1 + WA'(g_hdr);
            w_after_pad <= wp_p1_mrows + WA'(g_hdr);
            tile_stride <= kg_times[ROWS];
            for (int i = 0; i < ROWS; i++) row_off[i] <= kg_times[i];

            // ---------------- step pipeline ----------------
            wq <= wmem_rdata;
            v0 <= iss_valid;
            iss_q <= iss_v;
            k_end_q <= k_end;
            aoff0 <= aoff;
            aoff1 <= aoff0;
            v1 <= v0;
            l1 <= iss_q && k_end_q;
            for (int i = 0; i < ROWS; i++) row_base[i] <= aoff1 + row_off[i];
            v2 <= v1;
            l2 <= l1;
            w2 <= wq[COLS*WE-1:0];
            v3 <= v2;
            l3 <= l2;
            w3 <= w2;
            for (int i = 0; i < ROWS; i++) amem_raddr[i*AA +: AA] <= row_base[i] + g_row[i];

            // The issue loop (state ISSUE, one kept copy of it per group of registers).
            if (iss_k) begin
                k <= k_end ? '0 : k + 16'd1;
                k_rem <= k_end ? k_last_m1 : k_rem - 17'sd1;
            end
            if (iss_t && k_end) begin
                if (!mt_end) begin
                    mt_rem <= mt_m1;
                    mt_end <= mt_eq;
                    aoff <= aoff_next;
                end else if (!nt_end) begin
                    nt_rem <= nt_m1;
                    nt_end <= nt_eq;
                end
            end


            // ---------------- output side ----------------
            ppu_out_valid <= ppu_out_next;
            ppu_in_valid <= ppu_in_next;
            if (ppu_in_valid) begin
                i_in_hot <= rotate(i_in_hot);
                if (i_in_last) begin
                    if (mt_in_last) begin
                        mt_in_rem <= mt_last_m3;
                        mt_in_last <= mt_one;
                        b_raddr <= b_raddr_p1;   // next tile's bias is read in the header gap
                    end else begin
                        mt_in_rem <= mt_in_m1;
                        mt_in_last <= mt_in_eq;
                    end
                end
            end
            if (ppu_out_valid) begin
                m_rem <= m_rem - 17'd1;
                m_ok <= m_ok_next;
                m_ok_next <= !m_rem[16];
                i_out_hot <= rotate(i_out_hot);
                mt_out_last <= mt_out_last_next;
                out_tile_end <= tile_end_next;
                if (out_tile_end) begin
                    mt_out_rem <= mt_last_m3;
                    m_rem <= m_rows_m3;
                    m_ok <= m_rows_nz;
                    m_ok_next <= m_rows_gt1;
                    nt_out_rem <= nt_out_rem - 17'sd1;
                    nt_out_last <= nt_out_eq;
                    if (nt_out_last) wb_done <= 1'b1;
                end else if (i_out_last) begin
                    mt_out_rem <= mt_out_m1;
                end
            end
            // The first header's setup of the output-address and write-back registers.
            if (first_hdrw_om) o_nt_next <= o_base + 1'b1;
            if (first_hdrw_wb) abuf_nt_next <= abuf_base + AA'(ABUF_WORDS);
            if (row_step_om) begin
                omem_waddr <= omem_waddr + OA'(nt_count);
                if (tile_end_om) begin
                    omem_waddr <= o_nt_next;
                    o_nt_next <= o_nt_next + 1'b1;
                end
            end
            if (row_step_wb) begin
                abuf_base <= abuf_base + AA'(kg_out);      // the next sample's / pixel's words
                if (tile_end_wb) begin
                    abuf_nt_next <= abuf_nt_next + AA'(ABUF_WORDS);
                    abuf_base <= abuf_nt_next;
                end
            end
        end
    end

`ifndef SYNTHESIS
    // Every output tile the array closes (a valid step with `last`) hands exactly ROWS totals to
    // the PPUs, rows 0..ROWS-1 in order: the row rings stay one-hot, and when a descriptor has
    // seen its last row written, rows in = rows out = ROWS x tiles closed and both rings are back
    // at row 0.
    int sva_tiles, sva_rows_in, sva_rows_out;
    always @(posedge clk) begin
        if (rst || state == DWAIT) begin
            sva_tiles <= 0;
            sva_rows_in <= 0;
            sva_rows_out <= 0;
        end else begin
            sva_tiles <= sva_tiles + 32'(step_valid && step_last);
            sva_rows_in <= sva_rows_in + 32'(ppu_in_valid);
            sva_rows_out <= sva_rows_out + 32'(ppu_out_valid);
        end
        if (!rst) begin
            assert (i_in_hot != '0 && (i_in_hot & (i_in_hot - 1'b1)) == '0)
                else $error("accel_ctrl: the PPU input row ring is not one-hot (%b)", i_in_hot);
            assert (i_out_hot != '0 && (i_out_hot & (i_out_hot - 1'b1)) == '0)
                else $error("accel_ctrl: the PPU output row ring is not one-hot (%b)", i_out_hot);
            if (state == DRAIN && wb_done)
                assert (sva_rows_in == ROWS * sva_tiles && sva_rows_out == ROWS * sva_tiles
                        && i_in_hot == ROWS'(1) && i_out_hot == ROWS'(1))
                    else $error("accel_ctrl: %0d tiles closed, %0d rows into and %0d out of the PPUs (ROWS = %0d per tile)",
                                sva_tiles, sva_rows_in, sva_rows_out, ROWS);
        end
    end
`endif
endmodule
`default_nettype wire
