`default_nettype none
// Max pooling between layers, on activation-memory words (pool descriptor, docs/ACCELERATOR.md).
//
// Input: pixel-major words of a stored grid (image n, row y, column x, channel group cg at
// a_base + n*IMG + y*ROW + x*KG + cg, KG >= CG words per pixel). For every output word
// (n, ph, pw, cg), in that order, the PH x PW window words are read on consecutive cycles (one
// read per cycle, no gaps) and their lane-wise maximum (signed or unsigned codes) is written to
// wb_base, wb_base+1, ... (a compact PHo x PWo grid, CG words per pixel). It pools the stored activation codes, i.e. exactly what MaxPooling2D sees after
// the quantized activation. The read address is registered, read data comes AMEM_READ cycles after
// it (accel_amem) and is registered before the comparators. The start pulse (a controller flip-flop)
// is registered as it arrives; the descriptor too, then once more beside the start-time decodes.
// Cycles from start to done: reads + AMEM_READ + 4 (with the controller's start register,
// POOL_LATENCY in codesign.accel.golden).
module accel_pool #(
    parameter int LANES    = 4,
    parameter int ACT_BITS = 8,
    parameter int AA       = 10,
    parameter int AMEM_READ = 7    // cycles from a read address to its data (accel_amem)
) (
    input  wire                         clk,
    input  wire                         rst,
    input  wire                         start,     // with the descriptor on `desc`
    input  wire [319:0]                 desc,
    input  wire                         abort,     // with the registered start: the descriptor is faulty, do not run
    output logic [AA-1:0]               raddr,
    input  wire [LANES*ACT_BITS-1:0]    rdata,
    output logic                        we,
    output logic [AA-1:0]               waddr,
    output logic [LANES*ACT_BITS-1:0]   wdata,
    output wire                         reading,   // raddr is the pool's (it steers the memory's read port)
    output wire                         done       // with the final write
);
    localparam int AW = LANES * ACT_BITS;

    logic active;
    logic [15:0] n, cg, ph, pw;
    logic [7:0] dy, dx;
    // The loop nest steps one level per read: the lowest level (x, y, cg, pw, ph, n, inner to
    // outer) not at its last value steps and the ones below it wrap. Which level steps is a
    // one-hot register (`step`), computed a cycle ahead, so the counter and address updates below
    // hang off flip-flops, not off a chain of loop-end decodes. To compute it a cycle ahead, each
    // level keeps "at the last value" (`last`) and "at the one before" (`pen`) in registers: a
    // stepping level's next `last` is its `pen`, and its next `pen` a compare with max - 3
    // (precomputed at start, like max == 1 and max == 2 for a wrap). `lower` (thermometer:
    // lower[L] = some level <= L steps) picks which levels keep, step or wrap.
    localparam int X = 0, Y = 1, CG = 2, PW = 3, PH = 4, N = 5;
    logic [N:0] step;
    logic [PH:0] lower;
    logic [N:0] last, pen, one, two;
    logic [7:0] psz_h_m3, psz_w_m3;
    logic [15:0] cg_m3, pwo_m3, pho_m3, n_m3;
    logic [AA-1:0] row_stride, img_stride, row_block, col_block, cg_step;
    logic [AA-1:0] base_n, base_r, base_p, base_c, out_ptr;
    logic [AA-1:0] off, row_off;   // the window offset (dy, dx) and the next window row's ((dy + 1) * row stride)

    // The descriptor is registered as it arrives (desc_q), then once more (d), beside the decodes
    // the loop state needs at start (max == 1, max == 2 per level), registered from desc_q: the
    // loop state loads from registers only (start_q).
    logic start_q;
    /* verilator lint_off UNUSEDSIGNAL */
    logic [319:0] desc_q, d;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [N:0] max_is_1, max_is_2;
    always_ff @(posedge clk) begin
        start_q <= !rst && start;
        desc_q <= desc;
        d <= desc_q;
        max_is_1 <= {desc_q[15:0] == 16'd1, desc_q[47:32] == 16'd1, desc_q[63:48] == 16'd1,
                     desc_q[31:16] == 16'd1, desc_q[71:64] == 8'd1, desc_q[79:72] == 8'd1};
        max_is_2 <= {desc_q[15:0] == 16'd2, desc_q[47:32] == 16'd2, desc_q[63:48] == 16'd2,
                     desc_q[31:16] == 16'd2, desc_q[71:64] == 8'd2, desc_q[79:72] == 8'd2};
    end

    // A window has at least two reads (PoolDescriptor), so the levels from CG up step at most
    // every second cycle and their bases and counters are stable for a cycle before each such
    // step: each level's next base (its base plus its stride), its counter plus one and its
    // "one before the last" compare are registered every cycle, and the step takes them (the
    // bases through a one-hot choice).
    logic [AA-1:0] sum_c, sum_p, sum_r, sum_n;
    logic [N:CG] pen_hit_q;
    logic [15:0] cg_p1, pw_p1, ph_p1, n_p1;
    always_ff @(posedge clk) begin
        {cg_p1, pw_p1, ph_p1, n_p1} <= {cg + 16'd1, pw + 16'd1, ph + 16'd1, n + 16'd1};
        sum_c <= base_c + 1'b1;
        sum_p <= base_p + col_block;
        sum_r <= base_r + row_block;
        sum_n <= base_n + img_stride;
        pen_hit_q <= {n == n_m3, ph == pho_m3, pw == pwo_m3, cg == cg_m3};
    end
    wire [AA-1:0] base_next = {AA{step[CG]}} & sum_c | {AA{step[PW]}} & sum_p
                              | {AA{step[PH]}} & sum_r | {AA{step[N]}} & sum_n;

    // The bases load at start from a copy of start_q of their own (kept: start_q fans out to the
    // whole loop state). A level's base and every base inside it take the one new base. Some
    // level >= L steps is active && !lower[L-1] (step is one-hot), two flip-flops, not the OR of
    // step's bits (ABC would chain the four enables).
    logic start_b;
    (* keep *)
    always_ff @(posedge clk) start_b <= !rst && start;
    always_ff @(posedge clk) begin
        if (rst) begin
            {base_n, base_r, base_p, base_c} <= '0;
        end else if (start_b) begin
            {base_n, base_r, base_p, base_c} <= {4{d[128 +: AA]}};
        end else begin
            if (active && !lower[Y]) base_c <= base_next;
            if (active && !lower[CG]) base_p <= base_next;
            if (active && !lower[PW]) base_r <= base_next;
            if (active && !lower[PH]) base_n <= base_next;
        end
    end

    // The read address is registered (no adder in front of the RAM's address pins), one add from
    // the window's base and its offset. The offset steps by the pixel stride along a window row,
    // and takes the next row's offset (row_off, kept one row ahead) where the row wraps.
    always_ff @(posedge clk) raddr <= base_c + off;

    logic first_x, first_y;   // dx == 0, dy == 0
    wire win_first = first_x && first_y;
    wire win_last = last[X] && last[Y];
    wire final_read = step[N] && last[N];

    // The next loop state. A level's `last` / `pen` after this read: the stepping level takes its
    // `pen` / compare, the levels below it wrap (max == 1 / max == 2), the levels above keep.
    wire [N:0] pen_hit = {pen_hit_q, dy == psz_h_m3, dx == psz_w_m3};
    logic [N:0] last_next, pen_next;
    // At start every level is at 0: at its last value where max == 1, at the one before where 2.
    wire [PH:0] all_last_first;
    wire [PH:0] all_last_next;   // all_last_next[L]: every level <= L at its last value
    always_comb begin
        for (int l = 0; l <= N; l++) begin
            last_next[l] = step[l] ? pen[l] : (l > 0 && lower[l - 1]) ? last[l] : one[l];
            pen_next[l] = step[l] ? pen_hit[l] : (l > 0 && lower[l - 1]) ? pen[l] : two[l];
        end
    end
    for (genvar l = 0; l <= PH; l++) begin : g_all_last
        assign all_last_next[l] = &last_next[l:0];
        assign all_last_first[l] = &max_is_1[l:0];
    end

    // Window flags are registered beside the read address (stage a) and wait AMEM_READ cycles for
    // the read data (stage m), which is registered once more (rd_q) before it meets the running
    // maximum in stage 2.
    logic va, firsta, lasta, fina, vm, firstm, lastm, finm;
    accel_delay #(.WIDTH(4), .DEPTH(AMEM_READ)) u_read_wait (
        .clk(clk), .rst(rst), .d({va, firsta, lasta, fina}), .q({vm, firstm, lastm, finm}));
    logic v2, first2, last2, fin2, fin3;
    // Codes are compared as unsigned keys: a signed code with its sign bit flipped orders like
    // the signed value, so the running-maximum loop has no signed/unsigned choice in it. rd_q and
    // acc hold keys; the flip is undone on the way out.
    logic [AW-1:0] key_flip;   // each lane's top bit when the codes are signed
    logic [AW-1:0] rd_q;
    logic [AW-1:0] acc;
    logic [AW-1:0] cur;
    always_comb begin
        for (int l = 0; l < LANES; l++) begin
            logic [ACT_BITS-1:0] a, b;
            a = acc[l*ACT_BITS +: ACT_BITS];
            b = rd_q[l*ACT_BITS +: ACT_BITS];
            cur[l*ACT_BITS +: ACT_BITS] = (first2 || b > a) ? b : a;
        end
    end

    assign reading = active | va;
    assign done = we & fin3;

    always_ff @(posedge clk) begin
        if (rst) begin
            active <= 1'b0;
            key_flip <= '0;
            {n, cg, ph, pw} <= '0;
            {dy, dx} <= '0;
            {step, lower, last, pen, one, two, first_x, first_y} <= '0;
            {psz_h_m3, psz_w_m3, cg_m3, pwo_m3, pho_m3, n_m3} <= '0;
            {row_stride, img_stride, row_block, col_block, cg_step} <= '0;
            {off, row_off, out_ptr} <= '0;
            {va, firsta, lasta, fina, v2, first2, last2, fin2, fin3, we} <= '0;
            rd_q <= '0;
            acc <= '0;
            waddr <= '0;
            wdata <= '0;
        end else begin
            if (start_q) begin
                active <= !abort;   // an aborted pool reads and writes nothing and never signals done
                cg_step <= d[96 +: AA];      // words per pixel
                one <= max_is_1;
                two <= max_is_2;
                last <= max_is_1;
                pen <= max_is_2;
                lower <= ~all_last_first;
                step <= {all_last_first[PH], all_last_first[PH-1:0] & ~max_is_1[PH:1], ~max_is_1[X]};
                {n_m3, cg_m3, pho_m3, pwo_m3} <= {d[15:0] - 16'd3, d[31:16] - 16'd3,
                                                  d[47:32] - 16'd3, d[63:48] - 16'd3};
                {psz_h_m3, psz_w_m3} <= {d[71:64] - 8'd3, d[79:72] - 8'd3};
                {first_x, first_y} <= 2'b11;
                key_flip <= d[82] ? {LANES{1'b1, (ACT_BITS-1)'(0)}} : '0;
                row_stride <= d[160 +: AA];
                img_stride <= d[192 +: AA];
                row_block <= d[224 +: AA];
                col_block <= d[288 +: AA];
                out_ptr <= d[256 +: AA];
                {n, cg, ph, pw} <= '0;
                {dy, dx} <= '0;
                off <= '0;
                row_off <= d[160 +: AA];
            end else if (active) begin   // = |step (one level steps per read until the final one), a flip-flop
                last <= last_next;
                pen <= pen_next;
                lower <= ~all_last_next;
                // the next read's level; none after the final read
                step <= final_read ? '0 : {all_last_next[PH], all_last_next[PH-1:0] & ~last_next[PH:1], ~last_next[X]};
                if (final_read) active <= 1'b0;
                first_x <= !step[X];
                if (!step[X]) first_y <= !step[Y];
                dx <= step[X] ? dx + 8'd1 : '0;
                off <= step[X] ? off + cg_step : step[Y] ? row_off : '0;
                if (!step[X]) begin
                    dy <= step[Y] ? dy + 8'd1 : '0;
                    row_off <= step[Y] ? row_off + row_stride : row_stride;
                end
                if (lower[Y] == 1'b0) cg <= step[CG] ? cg_p1 : '0;
                if (lower[CG] == 1'b0) pw <= step[PW] ? pw_p1 : '0;
                if (lower[PW] == 1'b0) ph <= step[PH] ? ph_p1 : '0;
                if (step[N]) n <= n_p1;
            end
            va <= active && !start_q;
            firsta <= win_first;
            lasta <= win_last;
            fina <= final_read;
            v2 <= vm;
            first2 <= firstm;
            last2 <= lastm;
            fin2 <= finm;
            rd_q <= rdata ^ key_flip;
            if (v2) acc <= cur;
            we <= v2 && last2;
            fin3 <= fin2;
            // Address and data are zero while not writing: the top level ORs the activation
            // memory's writers.
            wdata <= (v2 && last2) ? cur ^ key_flip : '0;
            waddr <= (v2 && last2) ? out_ptr : '0;
            if (v2 && last2) out_ptr <= out_ptr + 1'b1;
        end
    end
endmodule
`default_nettype wire
