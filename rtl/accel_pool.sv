`default_nettype none
// Max pooling between layers, on activation-memory words (pool descriptor, docs/ACCELERATOR.md).
//
// Input: pixel-major words of a stored grid (image n, row y, column x, channel group cg at
// a_base + n*IMG + y*ROW + x*CG + cg). For every output word (n, ph, pw, cg), in that order, the
// PH x PW window words are read on consecutive cycles (one read per cycle, no gaps) and their
// lane-wise maximum (signed or unsigned codes) is written to wb_base, wb_base+1, ... (a compact
// PHo x PWo grid). It pools the stored activation codes, i.e. exactly what MaxPooling2D sees after
// the quantized activation. Cycles from start to done: reads + 2.
module accel_pool #(
    parameter int LANES    = 4,
    parameter int ACT_BITS = 8,
    parameter int AA       = 10
) (
    input  wire                         clk,
    input  wire                         rst,
    input  wire                         start,     // with the descriptor on `desc`
    input  wire [319:0]                 desc,
    output wire [AA-1:0]                raddr,
    input  wire [LANES*ACT_BITS-1:0]    rdata,
    output logic                        we,
    output logic [AA-1:0]               waddr,
    output logic [LANES*ACT_BITS-1:0]   wdata,
    output wire                         busy,
    output wire                         done       // with the final write
);
    localparam int AW = LANES * ACT_BITS;

    logic active, signed_codes;
    logic [15:0] n_count, cg_count, pho, pwo, n, cg, ph, pw;
    logic [7:0] psz_h, psz_w, dy, dx;
    logic [AA-1:0] row_stride, img_stride, row_block, col_block;
    logic [AA-1:0] base_n, base_r, base_p, base_c, off_r, off_c, out_ptr;

    /* verilator lint_off UNUSEDSIGNAL */
    wire [319:0] d = desc;
    /* verilator lint_on UNUSEDSIGNAL */

    assign raddr = base_c + off_r + off_c;

    wire last_x = dx == psz_w - 8'd1;
    wire last_y = dy == psz_h - 8'd1;
    wire last_cg = cg == cg_count - 16'd1;
    wire last_pw = pw == pwo - 16'd1;
    wire last_ph = ph == pho - 16'd1;
    wire last_n = n == n_count - 16'd1;
    wire win_first = dx == 8'd0 && dy == 8'd0;
    wire win_last = last_x && last_y;
    wire final_read = win_last && last_cg && last_pw && last_ph && last_n;

    // Read data stage.
    logic v1, first1, last1, fin1, fin2;
    logic [AW-1:0] acc;
    logic [AW-1:0] cur;
    always_comb begin
        for (int l = 0; l < LANES; l++) begin
            logic [ACT_BITS-1:0] a, b;
            logic b_bigger;
            a = acc[l*ACT_BITS +: ACT_BITS];
            b = rdata[l*ACT_BITS +: ACT_BITS];
            b_bigger = signed_codes ? ($signed(b) > $signed(a)) : (b > a);
            cur[l*ACT_BITS +: ACT_BITS] = (first1 || b_bigger) ? b : a;
        end
    end

    assign busy = active | v1 | we;
    assign done = we & fin2;

    always_ff @(posedge clk) begin
        if (rst) begin
            active <= 1'b0;
            signed_codes <= 1'b0;
            {n_count, cg_count, pho, pwo, n, cg, ph, pw} <= '0;
            {psz_h, psz_w, dy, dx} <= '0;
            {row_stride, img_stride, row_block, col_block} <= '0;
            {base_n, base_r, base_p, base_c, off_r, off_c, out_ptr} <= '0;
            {v1, first1, last1, fin1, fin2, we} <= '0;
            acc <= '0;
            waddr <= '0;
            wdata <= '0;
        end else begin
            if (start) begin
                active <= 1'b1;
                n_count <= d[15:0];
                cg_count <= d[31:16];
                pho <= d[47:32];
                pwo <= d[63:48];
                psz_h <= d[71:64];
                psz_w <= d[79:72];
                signed_codes <= d[82];
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
                    off_c <= off_c + AA'(cg_count);
                end else begin
                    dx <= '0;
                    off_c <= '0;
                    if (!last_y) begin
                        dy <= dy + 8'd1;
                        off_r <= off_r + row_stride;
                    end else begin
                        dy <= '0;
                        off_r <= '0;
                        if (!last_cg) begin
                            cg <= cg + 16'd1;
                            base_c <= base_c + 1'b1;
                        end else begin
                            cg <= '0;
                            if (!last_pw) begin
                                pw <= pw + 16'd1;
                                base_p <= base_p + col_block;
                                base_c <= base_p + col_block;
                            end else begin
                                pw <= '0;
                                if (!last_ph) begin
                                    ph <= ph + 16'd1;
                                    base_r <= base_r + row_block;
                                    base_p <= base_r + row_block;
                                    base_c <= base_r + row_block;
                                end else begin
                                    ph <= '0;
                                    n <= n + 16'd1;
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
            v1 <= active && !start;
            first1 <= win_first;
            last1 <= win_last;
            fin1 <= final_read;
            if (v1) acc <= cur;
            we <= v1 && last1;
            fin2 <= fin1;
            if (v1 && last1) begin
                wdata <= cur;
                waddr <= out_ptr;
                out_ptr <= out_ptr + 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
