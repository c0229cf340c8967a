`default_nettype none
// codesign accelerator: output-stationary ROWS x COLS systolic array with N:M structured
// sparsity, per-column post-processing, on-chip memories, descriptor-driven controller and
// 32-bit AXI4-Stream edges. Interface, descriptor format and memory map: docs/ACCELERATOR.md.
//
// Reset `rst` is synchronous and active high. `start` (one cycle, while idle) runs the descriptor
// chain from descriptor 0; `done` rises when the chain has finished (including any result
// streaming) and stays high until the next start; `perf_cycles` counts the cycles of the run
// spent outside result streaming; `error` is the run's sticky error status (accel_ctrl,
// codesign.accel.status), cleared by reset and start.
module accel_top #(
    parameter int ROWS        = 4,
    parameter int COLS        = 4,
    parameter int WEIGHT_BITS = 8,
    parameter int ACT_BITS    = 8,
    parameter int ACC_BITS    = 32,   // 2 * max(bits) + 1 .. 32
    parameter int SPARSE_M    = 4,    // 0: dense-only build; 2, 4, 8: groups of SPARSE_M along K
    parameter int AMEM_DEPTH  = 1024, // words of max(1, SPARSE_M) activations (one bank per row)
    parameter int WMEM_DEPTH  = 1024, // weight step words
    parameter int BMEM_DEPTH  = 64,   // bias rows (COLS biases each)
    parameter int OMEM_DEPTH  = 1024, // result words (COLS results each)
    parameter int DMEM_DEPTH  = 16    // layer descriptors
) (
    input  wire         clk,
    input  wire         rst,
    // AXI4-Stream slave: memory loads and read-out commands
    input  wire [31:0]  s_axis_tdata,
    input  wire         s_axis_tvalid,
    output wire         s_axis_tready,
    input  wire         s_axis_tlast,
    // AXI4-Stream master: results
    output wire [31:0]  m_axis_tdata,
    output wire         m_axis_tvalid,
    input  wire         m_axis_tready,
    output wire         m_axis_tlast,
    // control and status
    input  wire         start,
    output wire         busy,
    output wire         done,
    output wire [31:0]  perf_cycles,
    output wire [3:0]   error        // sticky error status of the run (codesign.accel.status)
);
    localparam int LANES    = (SPARSE_M == 0) ? 1 : SPARSE_M;
    localparam int IDX_BITS = (LANES > 1) ? $clog2(LANES) : 1;
    localparam int WE       = WEIGHT_BITS + IDX_BITS;
    localparam int GF       = 16;
    localparam int AMEM_W   = LANES * ACT_BITS;          // one word of one bank (BEATS_A loader beats)
    localparam int WB_WORDS = (COLS >= LANES) ? COLS / LANES : 1;   // words of one output row
    localparam int AMEM_WR  = 1 << $clog2(WB_WORDS);     // words per activation-memory row (write)
    localparam int AMEM_SB  = $clog2(AMEM_WR);
    localparam int WMEM_W   = GF + COLS * WE;
    localparam int BMEM_W   = COLS * ACC_BITS;
    localparam int OMEM_W   = COLS * ACC_BITS;
    localparam int DMEM_W   = 320;
    localparam int BEATS_A  = (AMEM_W + 31) / 32;
    localparam int BEATS_W  = (WMEM_W + 31) / 32;
    localparam int BEATS_B  = (BMEM_W + 31) / 32;
    localparam int BEATS_D  = DMEM_W / 32;
    localparam int BUF_BEATS = (BEATS_A > BEATS_W ? (BEATS_A > BEATS_B ? (BEATS_A > BEATS_D ? BEATS_A : BEATS_D)
                                                                        : (BEATS_B > BEATS_D ? BEATS_B : BEATS_D))
                                                  : (BEATS_W > BEATS_B ? (BEATS_W > BEATS_D ? BEATS_W : BEATS_D)
                                                                        : (BEATS_B > BEATS_D ? BEATS_B : BEATS_D)));
    localparam int AA = $clog2(AMEM_DEPTH);
    localparam int WA = $clog2(WMEM_DEPTH);
    localparam int BA = $clog2(BMEM_DEPTH);
    localparam int OA = $clog2(OMEM_DEPTH);
    localparam int DA = $clog2(DMEM_DEPTH);
    localparam int LA = 28;  // loader address width
    localparam int AMEM_READ = 7;   // accel_amem's read latency, for the controller and the pool

    wire unused_in = &{1'b0, s_axis_tlast};

    // ---------------- loader ----------------
    logic we_d, we_a, we_w, we_b, readout, load_dropped;
    logic [BUF_BEATS-1:0] beat;
    /* verilator lint_off UNUSEDSIGNAL */
    logic [LA-1:0] waddr, readout_base;
    logic [31:0] wdata;
    logic [31:0] readout_shape;
    /* verilator lint_on UNUSEDSIGNAL */
    accel_loader #(
        .ADDR_BITS(LA), .BUF_BEATS(BUF_BEATS),
        .BEATS_D(BEATS_D), .BEATS_A(BEATS_A), .BEATS_W(BEATS_W), .BEATS_B(BEATS_B)
    ) u_loader (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .we_d(we_d), .we_a(we_a), .we_w(we_w), .we_b(we_b), .beat(beat), .waddr(waddr), .wdata(wdata),
        .readout(readout), .readout_base(readout_base), .readout_shape(readout_shape),
        .busy(busy), .dropped(load_dropped)
    );

    // ---------------- memories ----------------
    wire [DA-1:0] dmem_raddr;
    wire [ROWS*AA-1:0] amem_raddr, ctrl_amem_raddr;
    wire [ROWS*AMEM_W-1:0] amem_rdata;
    wire [WA-1:0] wmem_raddr;
    wire [WMEM_W-1:0] wmem_rdata;
    wire [BA-1:0] bmem_raddr;
    wire [BMEM_W-1:0] bmem_rdata;
    wire [OA-1:0] omem_raddr, omem_waddr;
    wire [OMEM_W-1:0] omem_rdata, omem_wdata;
    wire omem_we;

    // The descriptor, weight and bias memories take the loader's beats 32 bits at a time
    // (accel_beat_ram). The weight and bias memories (block RAMs along a block-RAM row, far from
    // the loader) get the write port registered once more on its way, a kept copy each. A beat
    // lands in the descriptor memory two cycles after it leaves the loader, in the weight and
    // bias memories three, still before anything reads it: the controller reads its first
    // descriptor two cycles after a start, the weights and biases later still.
    logic we_wq, we_bq;
    logic [BEATS_W-1:0] beat_wq;
    logic [BEATS_B-1:0] beat_bq;
    logic [WA-1:0] wa_wq;
    logic [BA-1:0] wa_bq;
    logic [31:0] wd_wq, wd_bq;
    (* keep *)
    always_ff @(posedge clk) begin
        {we_wq, we_bq} <= {we_w, we_b};
        {beat_wq, beat_bq} <= {beat[BEATS_W-1:0], beat[BEATS_B-1:0]};
        {wa_wq, wa_bq} <= {waddr[WA-1:0], waddr[BA-1:0]};
        {wd_wq, wd_bq} <= {wdata, wdata};
    end

    // The descriptor memory is LUT RAM, 320 bits wide, read by the controller and the pooling
    // unit; each of its 32-bit slices reads through its own kept copy of the read address: one
    // address register would fan out to 80 LUT-RAM cells spread over the slices. A descriptor
    // arrives two cycles after its address: the address copy, then the read. (As block RAM, its
    // 320 data pins in the block-RAM rows take the router about three times the iterations on
    // the 8x8 build.)
    wire [DMEM_W-1:0] dmem_q;
    accel_beat_ram #(.WIDTH(DMEM_W), .DEPTH(DMEM_DEPTH), .RADDR_REG(1)) u_dmem (
        .clk(clk), .we(we_d), .beat(beat[BEATS_D-1:0]), .waddr(waddr[DA-1:0]), .wdata(wdata),
        .raddr(dmem_raddr), .rdata(dmem_q));
    // Activation memory (one replicated bank per array row): written by the loader, by the
    // write-back of a layer's results (a whole output row per write) or by the pooling unit.
    wire [AMEM_WR-1:0] abuf_we;
    wire [AA-AMEM_SB-1:0] abuf_wrow;
    wire [AMEM_WR*AMEM_W-1:0] abuf_wdata;
    wire pool_we, pool_reading;
    wire [AA-1:0] pool_waddr, pool_raddr;
    wire [AMEM_W-1:0] pool_wdata;
    // One writer at a time (the loader before a run, the pooling unit, a layer's write-back);
    // the pooling unit and the write-back hold address and data at zero while not writing, so
    // the write port is an OR, with no select decoded from one writer's enables in front of the
    // memory's input registers.
    // The loader's writes come through a kept register of their own, zero while it is not writing:
    // the loader sits by the AXI pins, far from the activation banks, and its write data is shared
    // with the descriptor memory's, so the long route to the OR starts at a register.
    // A word wider than 32 bits (LANES * ACT_BITS > 32) arrives as BEATS_A beats, least significant
    // first: the beats before the last wait in load_low, and the word is written on its last beat.
    logic load_we;
    logic [AA-1:0] load_waddr;
    logic [AMEM_W-1:0] load_wdata;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [BEATS_A*32-1:0] load_word;   // a narrow last beat leaves its high bits unused
    /* verilator lint_on UNUSEDSIGNAL */
    if (BEATS_A == 1) begin : g_load_one_beat
        assign load_word = wdata;
    end else begin : g_load_beats
        logic [(BEATS_A-1)*32-1:0] load_low;
        always_ff @(posedge clk)
            for (int b = 0; b < BEATS_A - 1; b++)
                if (we_a && beat[b]) load_low[b*32 +: 32] <= wdata;
        assign load_word = {wdata, load_low};
    end
    wire load_last = we_a && beat[BEATS_A-1];
    (* keep *)
    always_ff @(posedge clk) begin
        load_we <= load_last;
        load_waddr <= load_last ? waddr[AA-1:0] : '0;
        load_wdata <= load_last ? load_word[AMEM_W-1:0] : '0;
    end
    // The write-back writes whole rows of the memory; the loader and the pooling unit write one
    // word, given on every word of its row with only its own enabled.
    wire [AA-1:0] word_waddr = pool_waddr | load_waddr;
    wire [AA-1:0] word_slot = word_waddr & AA'(AMEM_WR - 1);
    wire [AMEM_WR-1:0] amem_we = abuf_we | (AMEM_WR'(load_we | pool_we) << word_slot);
    wire [AA-AMEM_SB-1:0] amem_wrow = abuf_wrow | word_waddr[AA-1:AMEM_SB];
    wire [AMEM_WR*AMEM_W-1:0] amem_wdata = abuf_wdata | {AMEM_WR{pool_wdata | load_wdata}};
    accel_amem #(.ROWS(ROWS), .WIDTH(AMEM_W), .WORDS(AMEM_WR), .DEPTH(AMEM_DEPTH), .AA(AA)) u_amem (
        .clk(clk), .we_in(amem_we), .wrow_in(amem_wrow), .wdata_in(amem_wdata),
        .raddr(amem_raddr), .rdata(amem_rdata));
    // Row 0's bank is the pooling unit's read port while it runs.
    if (ROWS > 1) begin : g_raddr
        assign amem_raddr = {ctrl_amem_raddr[ROWS*AA-1:AA], pool_reading ? pool_raddr : ctrl_amem_raddr[AA-1:0]};
    end else begin : g_raddr1
        assign amem_raddr = pool_reading ? pool_raddr : ctrl_amem_raddr;
    end
    accel_beat_ram #(.WIDTH(WMEM_W), .DEPTH(WMEM_DEPTH)) u_wmem (
        .clk(clk), .we(we_wq), .beat(beat_wq), .waddr(wa_wq), .wdata(wd_wq),
        .raddr(wmem_raddr), .rdata(wmem_rdata));
    accel_beat_ram #(.WIDTH(BMEM_W), .DEPTH(BMEM_DEPTH)) u_bmem (
        .clk(clk), .we(we_bq), .beat(beat_bq), .waddr(wa_bq), .wdata(wd_bq),
        .raddr(bmem_raddr), .rdata(bmem_rdata));
    // The output memory's write port is registered once more on its way in (the controller and
    // the PPUs are far from its block RAMs); the streamer reads a layer's results only after
    // the layer has finished.
    logic omem_we_q;
    logic [OA-1:0] omem_waddr_q;
    logic [OMEM_W-1:0] omem_wdata_q;
    always_ff @(posedge clk) begin
        omem_we_q <= omem_we;
        omem_waddr_q <= omem_waddr;
        omem_wdata_q <= omem_wdata;
    end
    accel_sdpram #(.WIDTH(OMEM_W), .DEPTH(OMEM_DEPTH)) u_omem (
        .clk(clk), .we(omem_we_q), .waddr(omem_waddr_q), .wdata(omem_wdata_q),
        .raddr(omem_raddr), .rdata(omem_rdata));

    // ---------------- controller ----------------
    wire step_valid, step_last;
    wire [COLS*WE-1:0] step_w;
    wire act_signed, relu, out_signed;
    wire [1:0] rounding;
    wire [5:0] shift, out_bits;
    wire row_valid, row_valid_next, ppu_out_next;
    wire [COLS*ACC_BITS-1:0] row;
    wire stream_start, stream_finished;
    wire abuf_valid, pool_start, pool_abort, pool_done;
    wire [AA-1:0] abuf_base;
    wire [OA-1:0] stream_base;
    wire [15:0] stream_rows, stream_cols;

    accel_ctrl #(
        .ROWS(ROWS), .COLS(COLS), .LANES(LANES), .ABUF_WORDS(WB_WORDS), .WE(WE), .WMEM_W(WMEM_W),
        .DA(DA), .AA(AA), .WA(WA), .BA(BA), .OA(OA), .AMEM_READ(AMEM_READ)
    ) u_ctrl (
        .clk(clk), .rst(rst), .start(start),
        .dmem_raddr(dmem_raddr), .dmem_rdata(dmem_q),
        .wmem_raddr(wmem_raddr), .wmem_rdata(wmem_rdata),
        .amem_raddr(ctrl_amem_raddr), .bmem_raddr(bmem_raddr),
        .omem_we(omem_we), .omem_waddr(omem_waddr),
        .step_valid(step_valid), .step_last(step_last), .step_w(step_w),
        .act_signed(act_signed), .relu(relu), .out_signed(out_signed), .rounding(rounding),
        .shift(shift), .out_bits(out_bits),
        .ppu_in_next(row_valid_next), .ppu_out_next(ppu_out_next),
        .abuf_valid(abuf_valid), .abuf_base(abuf_base),
        .pool_start(pool_start), .pool_abort(pool_abort), .pool_done(pool_done),
        .stream_start(stream_start), .stream_base(stream_base),
        .stream_rows(stream_rows), .stream_cols(stream_cols), .stream_finished(stream_finished),
        .busy(busy), .done(done), .perf_cycles(perf_cycles),
        .cmd_dropped(load_dropped), .error(error)
    );

    // ---------------- datapath ----------------
    accel_array #(
        .ROWS(ROWS), .COLS(COLS), .ACT_BITS(ACT_BITS), .WEIGHT_BITS(WEIGHT_BITS),
        .ACC_BITS(ACC_BITS), .LANES(LANES), .IDX_BITS(IDX_BITS)
    ) u_array (
        .clk(clk), .rst(rst), .act_signed(act_signed),
        .step_valid(step_valid), .step_last(step_last),
        .a_word(amem_rdata), .w_word(step_w),
        .out_valid(row_valid), .out_valid_next(row_valid_next), .out_row(row)
    );

    // Bias row register: the bias memory's read data gets a flip-flop stage before the PPUs.
    // No cycle is lost: the bias address changes after a column tile's last row entered the
    // PPUs, and the next tile's first row comes at least TILE_OVERHEAD + 1 cycles later.
    logic [BMEM_W-1:0] bias_q;
    always_ff @(posedge clk) bias_q <= bmem_rdata;

    /* verilator lint_off UNUSEDSIGNAL */
    wire [COLS-1:0] ppu_valid, ppu_valid_next;
    // Layer configuration, chained through the PPUs' registered copies (index j feeds PPU j).
    wire [5:0] c_shift [COLS+1];
    wire [1:0] c_rounding [COLS+1];
    wire [5:0] c_out_bits [COLS+1];
    wire       c_out_signed [COLS+1];
    wire       c_relu [COLS+1];
    /* verilator lint_on UNUSEDSIGNAL */
    assign c_shift[0] = shift;
    assign c_rounding[0] = rounding;
    assign c_out_bits[0] = out_bits;
    assign c_out_signed[0] = out_signed;
    assign c_relu[0] = relu;
    for (genvar j = 0; j < COLS; j++) begin : g_ppu
        accel_ppu #(.ACC_BITS(ACC_BITS)) u_ppu (
            .clk(clk), .rst(rst),
            .shift(c_shift[j]), .rounding(c_rounding[j]),
            .out_bits(c_out_bits[j]), .out_signed(c_out_signed[j]), .relu(c_relu[j]),
            .cfg_shift(c_shift[j+1]),
            .cfg_rounding(c_rounding[j+1]), .cfg_out_bits(c_out_bits[j+1]),
            .cfg_out_signed(c_out_signed[j+1]), .cfg_relu(c_relu[j+1]),
            .in_valid(row_valid), .acc(row[j*ACC_BITS +: ACC_BITS]),
            .bias(bias_q[j*ACC_BITS +: ACC_BITS]),
            .out_valid(ppu_valid[j]), .out_valid_next(ppu_valid_next[j]),
            .out(omem_wdata[j*ACC_BITS +: ACC_BITS])
        );
    end
    assign ppu_out_next = ppu_valid_next[0];

    accel_abuf #(
        .COLS(COLS), .LANES(LANES), .ACT_BITS(ACT_BITS), .ACC_BITS(ACC_BITS), .WORDS(AMEM_WR), .AA(AA)
    ) u_abuf (
        .clk(clk), .rst(rst), .row_valid(abuf_valid), .row(omem_wdata),
        .base(abuf_base),
        .we(abuf_we), .wrow(abuf_wrow), .wdata(abuf_wdata)
    );

    accel_pool #(.LANES(LANES), .ACT_BITS(ACT_BITS), .AA(AA), .AMEM_READ(AMEM_READ)) u_pool (
        .clk(clk), .rst(rst), .start(pool_start), .desc(dmem_q), .abort(pool_abort),
        .raddr(pool_raddr), .rdata(amem_rdata[AMEM_W-1:0]),
        .we(pool_we), .waddr(pool_waddr), .wdata(pool_wdata), .reading(pool_reading), .done(pool_done)
    );

`ifndef SYNTHESIS
    // The activation memory's write port is an OR of its writers: one writes at a time, and a
    // writer that is not writing holds its address and data at zero. No loader write or read-out
    // comes from a beat taken while busy (it is dropped; the loader's enables are two cycles
    // after the beat's pin cycle).
    logic busy_p1, busy_p2;
    always @(posedge clk) begin
        busy_p1 <= busy;
        busy_p2 <= busy_p1;
        if (!rst) begin
            assert (32'(load_we) + 32'(pool_we) + 32'(|abuf_we) <= 1)
                else $error("accel_top: two writers on the activation memory's write port (loader %0d, pool %0d, write-back %0d)",
                            load_we, pool_we, |abuf_we);
            assert (load_we || (load_waddr == '0 && load_wdata == '0))
                else $error("accel_top: the loader's activation write port is not zero while it does not write");
            assert (pool_we || (pool_waddr == '0 && pool_wdata == '0))
                else $error("accel_top: the pool's activation write port is not zero while it does not write");
            assert (|abuf_we || (abuf_wrow == '0 && abuf_wdata == '0))
                else $error("accel_top: the write-back's activation write port is not zero while it does not write");
            assert (!(busy_p2 && (we_d || we_a || we_w || we_b || readout)))
                else $error("accel_top: a loader write or read-out from a beat taken while busy");
        end
    end
`endif

    // ---------------- result read-out ----------------
    accel_streamer #(.COLS(COLS), .ACC_BITS(ACC_BITS), .ADDR_BITS(OA)) u_streamer (
        .clk(clk), .rst(rst),
        .start(stream_start | readout),
        .base(readout ? readout_base[OA-1:0] : stream_base),
        .rows(readout ? readout_shape[15:0] : stream_rows),
        .cols(readout ? readout_shape[31:16] : stream_cols),
        .omem_raddr(omem_raddr), .omem_rdata(omem_rdata),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid),
        .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast),
        .finished(stream_finished)
    );
endmodule
`default_nettype wire
