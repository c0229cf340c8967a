`default_nettype none
// Max pooling between layers, on activation-memory words (pool descriptor, docs/ACCELERATOR.md).
//
// Input: pixel-major words of a stored grid (image n, row y, column x, channel group cg at
// a_base + n*IMG + y*ROW + x*CG + cg). For every output word (n, ph, pw, cg), in that order, the
// PH x PW window words are read on consecutive cycles (one read per cycle, no gaps) and their
// lane-wise maximum (signed or unsigned codes) is written to wb_base, wb_base+1, ... (a compact
// PHo x PWo grid). It pools the stored activation codes, i.e. exactly what MaxPooling2D sees after
// the quantized activation. The read address is registered, read data comes seven cycles after it
// (accel_amem) and is registered before the comparators. The start pulse and the descriptor are
// registered as they arrive (both come from far away). Cycles from start to done: reads + 11
// (POOL_LATENCY in codesign.accel.golden).
module accel_pool #(
    parameter int LANES    = 4,
    parameter int ACT_BITS = 8,
    parameter int AA       = 10
) (
    input  wire                         clk,
    input  wire                         rst,
    input  wire                         start,     // with the descriptor on `desc`
    input  wire [319:0]                 desc,
    output logic [AA-1:0]               raddr,
    input  wire [LANES*ACT_BITS-1:0]    rdata,
    output logic                        we,
    output logic [AA-1:0]               waddr,
    output logic [LANES*ACT_BITS-1:0]   wdata,
    output wire                         busy,
    output wire                         done       // with the final write
);
    localparam int AW = LANES * ACT_BITS;

    logic active;
    logic [15:0] n, cg, ph, pw;
    logic [7:0] dy, dx;
    // Each loop counter keeps its "at the last value" flag in a register, so the nested loop
    // updates below depend on flip-flops only (no counter compare in front of them). A flag is
    // set when its counter steps onto max - 1 (a compare with max - 2, precomputed at start) or
    // wraps to 0 while max is 1.
    logic last_x, last_y, last_cg, last_pw, last_ph, last_n;
    logic one_x, one_y, one_cg, one_pw, one_ph;
    logic [7:0] psz_h_m2, psz_w_m2;
    logic [15:0] cg_m2, pwo_m2, pho_m2, n_m2;
    logic [AA-1:0] row_stride, img_stride, row_block, col_block, cg_step;
    logic [AA-1:0] base_n, base_r, base_p, base_c, off_r, off_c, out_ptr;

    logic start_q;
    /* verilator lint_off UNUSEDSIGNAL */
    logic [319:0] d;   // the descriptor, registered
    /* verilator lint_on UNUSEDSIGNAL */
    always_ff @(posedge clk) begin
        start_q <= !rst && start;
        d <= desc;
    end

    // The read address is registered (no adder in front of the RAM's address pins).
    always_ff @(posedge clk) raddr <= base_c + off_r + off_c;

    logic first_x, first_y;   // dx == 0, dy == 0
    wire win_first = first_x && first_y;
    wire win_last = last_x && last_y;
    wire final_read = win_last && last_cg && last_pw && last_ph && last_n;

    // Window flags wait in stages a, 0, 1, b, r, f, g and m for the read data (address register,
    // then accel_amem's seven read cycles), which is registered once more (rd_q) before it meets the
    // running maximum in stage 2.
    logic va, firsta, lasta, fina, v0, first0, last0, fin0, v1, first1, last1, fin1;
    logic vb, firstb, lastb, finb, vr, firstr, lastr, finr;   // the activation memory's address copies
    logic vf, firstf, lastf, finf;                           // its read data's fabric copy
    logic vg, firstg, lastg, fing, vm, firstm, lastm, finm;   // its sub-bank select (two)
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

    assign busy = active | va | v0 | v1 | vb | vr | vf | vg | vm | v2 | we;
    assign done = we & fin3;

    always_ff @(posedge clk) begin
        if (rst) begin
            active <= 1'b0;
            key_flip <= '0;
            {n, cg, ph, pw} <= '0;
            {dy, dx} <= '0;
            {last_x, last_y, last_cg, last_pw, last_ph, last_n} <= '0;
            {one_x, one_y, one_cg, one_pw, one_ph, first_x, first_y} <= '0;
            {psz_h_m2, psz_w_m2, cg_m2, pwo_m2, pho_m2, n_m2} <= '0;
            {row_stride, img_stride, row_block, col_block, cg_step} <= '0;
            {base_n, base_r, base_p, base_c, off_r, off_c, out_ptr} <= '0;
            {va, firsta, lasta, fina, v0, first0, last0, fin0} <= '0;
            {vb, firstb, lastb, finb, vf, firstf, lastf, finf} <= '0;
            {v1, first1, last1, fin1, vr, firstr, lastr, finr, vg, firstg, lastg, fing, vm, firstm, lastm, finm, v2, first2, last2, fin2, fin3, we} <= '0;
            rd_q <= '0;
            acc <= '0;
            waddr <= '0;
            wdata <= '0;
        end else begin
            if (start_q) begin
                active <= 1'b1;
                cg_step <= AA'(d[31:16]);
                {one_cg, one_ph, one_pw} <= {d[31:16] == 16'd1, d[47:32] == 16'd1, d[63:48] == 16'd1};
                {one_y, one_x} <= {d[71:64] == 8'd1, d[79:72] == 8'd1};
                {last_n, last_cg, last_ph, last_pw} <= {d[15:0] == 16'd1, d[31:16] == 16'd1,
                                                        d[47:32] == 16'd1, d[63:48] == 16'd1};
                {last_y, last_x} <= {d[71:64] == 8'd1, d[79:72] == 8'd1};
                {n_m2, cg_m2, pho_m2, pwo_m2} <= {d[15:0] - 16'd2, d[31:16] - 16'd2,
                                                  d[47:32] - 16'd2, d[63:48] - 16'd2};
                {psz_h_m2, psz_w_m2} <= {d[71:64] - 8'd2, d[79:72] - 8'd2};
                {first_x, first_y} <= 2'b11;
                key_flip <= d[82] ? {LANES{1'b1, (ACT_BITS-1)'(0)}} : '0;
                base_n <= d[128 +: AA];
                base_r <= d[128 +: AA];
                base_p <= d[128 +: AA];
                base_c <= d[128 +: AA];
                row_stride <= d[160 +: AA];
                img_stride <= d[192 +: AA];
                row_block <= d[224 +: AA];
                col_block <= d[288 +: AA];
                out_ptr <= d[256 +: AA];
                {n, cg, ph, pw} <= '0;
                {dy, dx} <= '0;
                {off_r, off_c} <= '0;
            end else if (active) begin
                if (!last_x) begin
                    dx <= dx + 8'd1;
                    last_x <= dx == psz_w_m2;
                    first_x <= 1'b0;
                    off_c <= off_c + cg_step;
                end else begin
                    dx <= '0;
                    last_x <= one_x;
                    first_x <= 1'b1;
                    off_c <= '0;
                    if (!last_y) begin
                        dy <= dy + 8'd1;
                        last_y <= dy == psz_h_m2;
                        first_y <= 1'b0;
                        off_r <= off_r + row_stride;
                    end else begin
                        dy <= '0;
                        last_y <= one_y;
                        first_y <= 1'b1;
                        off_r <= '0;
                        if (!last_cg) begin
                            cg <= cg + 16'd1;
                            last_cg <= cg == cg_m2;
                            base_c <= base_c + 1'b1;
                        end else begin
                            cg <= '0;
                            last_cg <= one_cg;
                            if (!last_pw) begin
                                pw <= pw + 16'd1;
                                last_pw <= pw == pwo_m2;
                                base_p <= base_p + col_block;
                                base_c <= base_p + col_block;
                            end else begin
                                pw <= '0;
                                last_pw <= one_pw;
                                if (!last_ph) begin
                                    ph <= ph + 16'd1;
                                    last_ph <= ph == pho_m2;
                                    base_r <= base_r + row_block;
                                    base_p <= base_r + row_block;
                                    base_c <= base_r + row_block;
                                end else begin
                                    ph <= '0;
                                    last_ph <= one_ph;
                                    n <= n + 16'd1;
                                    last_n <= n == n_m2;
                                    base_n <= base_n + img_stride;
                                    base_r <= base_n + img_stride;
                                    base_p <= base_n + img_stride;
                                    base_c <= base_n + img_stride;
                                    if (last_n) active <= 1'b0;
                                end
                            end
                        end
                    end
                end
            end
            va <= active && !start_q;
            firsta <= win_first;
            lasta <= win_last;
            fina <= final_read;
            v0 <= va;
            first0 <= firsta;
            last0 <= lasta;
            fin0 <= fina;
            v1 <= v0;
            first1 <= first0;
            last1 <= last0;
            fin1 <= fin0;
            {vb, firstb, lastb, finb} <= {v1, first1, last1, fin1};
            {vr, firstr, lastr, finr} <= {vb, firstb, lastb, finb};
            {vf, firstf, lastf, finf} <= {vr, firstr, lastr, finr};
            {vg, firstg, lastg, fing} <= {vf, firstf, lastf, finf};
            {vm, firstm, lastm, finm} <= {vg, firstg, lastg, fing};
            v2 <= vm;
            first2 <= firstm;
            last2 <= lastm;
            fin2 <= finm;
            rd_q <= rdata ^ key_flip;
            if (v2) acc <= cur;
            we <= v2 && last2;
            fin3 <= fin2;
            if (v2 && last2) begin
                wdata <= cur ^ key_flip;
                waddr <= out_ptr;
                out_ptr <= out_ptr + 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
