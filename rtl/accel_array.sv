`default_nettype none
// ROWS x COLS output-stationary systolic array with input register, input skew and output
// de-skew (latency: codesign.accel.golden.array_latency).
//
// One *step* per cycle: a_word carries, for every array row i, a group of LANES activations;
// w_word carries, for every column j, one weight and the lane index it multiplies. Row i is
// delayed i cycles and column j is delayed j cycles, so PE(i,j) sees step s at a fixed offset
// + i + j. The step flagged `step_last` closes an output tile: every PE hands over its running
// total, the column collects them from its rows (they finish one cycle apart, so at most one PE
// of a column is valid per cycle, and rows arrive in order 0..ROWS-1, while tiles are at least
// ROWS steps apart) and takes the sum, and column j is delayed
// COLS-1-j cycles so a whole output row (COLS sums) leaves on out_row in one cycle. Rows of a
// tile leave in order 0..ROWS-1 on consecutive cycles.
module accel_array #(
    parameter int ROWS        = 4,
    parameter int COLS        = 4,
    parameter int ACT_BITS    = 8,
    parameter int WEIGHT_BITS = 8,
    parameter int ACC_BITS    = 32,
    parameter int LANES       = 1,
    parameter int IDX_BITS    = 1
) (
    input  wire                                   clk,
    input  wire                                   rst,
    input  wire                                   act_signed,
    input  wire                                   step_valid,
    input  wire                                   step_last,
    input  wire [ROWS*LANES*ACT_BITS-1:0]         a_word,
    input  wire [COLS*(WEIGHT_BITS+IDX_BITS)-1:0] w_word,   // column j: {idx, weight}
    output wire                                   out_valid,
    output wire                                   out_valid_next,   // out_valid of the next cycle
    output wire [COLS*ACC_BITS-1:0]               out_row
);
    localparam int AW = LANES * ACT_BITS;
    localparam int AX = ACT_BITS + 1;       // a lane inside the array: the code, sign-extended
    localparam int AXW = LANES * AX;
    localparam int WE = WEIGHT_BITS + IDX_BITS;

    // Input register: the activation word comes from the activation memory's RAM select
    // and the weight word from the controller, both far from most PEs, so they get a flip-flop
    // stage of their own before any logic. The step travels with them.
    logic [ROWS*AW-1:0] a_q;
    logic [COLS*WE-1:0] w_q;
    logic               last_q;
    always_ff @(posedge clk) begin
        if (rst) begin
            last_q <= 1'b0;
            a_q <= '0;
            w_q <= '0;
        end else begin
            last_q <= step_valid & step_last;
            a_q <= a_word;
            w_q <= w_word;
        end
    end
    // The step's valid flag, one kept copy per row and per column, each gating only its own word:
    // Yosys would otherwise merge them into one flip-flop with a fanout of the whole input word.
    // The copies are not reset (the words they gate are): with `!rst && step_valid` in front,
    // all of them would share one LUT and reach across the array from it.
    logic [ROWS-1:0] v_row;
    logic [COLS-1:0] v_col;
    for (genvar i = 0; i < ROWS; i++) begin : g_vrow
        (* keep *)
        always_ff @(posedge clk) v_row[i] <= step_valid;
    end
    for (genvar j = 0; j < COLS; j++) begin : g_vcol
        (* keep *)
        always_ff @(posedge clk) v_col[j] <= step_valid;
    end

    // Bubbles carry zeros, so no undefined memory word ever reaches a multiplier. Each lane is
    // extended to AX signed bits here, once per row, by the layer's act_signed (unsigned codes get
    // a zero sign bit), so the flag does not fan out to every PE.
    wire [ROWS*AXW-1:0] a_ext;
    for (genvar l = 0; l < ROWS * LANES; l++) begin : g_ext
        wire [ACT_BITS-1:0] code = v_row[l / LANES] ? a_q[l*ACT_BITS +: ACT_BITS] : '0;
        assign a_ext[l*AX +: AX] = {act_signed & code[ACT_BITS-1], code};
    end
    wire [COLS*WE-1:0] w_gated;
    for (genvar j = 0; j < COLS; j++) begin : g_wgate
        assign w_gated[j*WE +: WE] = v_col[j] ? w_q[j*WE +: WE] : '0;
    end
    wire               last_gated = last_q;

    // Horizontal (activation) and vertical (weight, index, last) links between PEs.
    /* verilator lint_off UNUSEDSIGNAL */
    logic [AXW-1:0]         a_link   [ROWS][COLS+1];
    logic [WEIGHT_BITS-1:0] w_link   [ROWS+1][COLS];
    logic [IDX_BITS-1:0]    idx_link [ROWS+1][COLS];
    logic                   last_link[ROWS+1][COLS];
    /* verilator lint_on UNUSEDSIGNAL */
    logic [ACC_BITS-1:0]    res_end  [ROWS][COLS];
    logic                   res_v    [ROWS][COLS];

    for (genvar i = 0; i < ROWS; i++) begin : g_askew
        accel_delay #(.WIDTH(AXW), .DEPTH(i)) u_skew (
            .clk(clk), .rst(rst), .d(a_ext[i*AXW +: AXW]), .q(a_link[i][0])
        );
    end
    for (genvar j = 0; j < COLS; j++) begin : g_wskew
        wire [WE:0] skewed;
        accel_delay #(.WIDTH(WE + 1), .DEPTH(j)) u_skew (
            .clk(clk), .rst(rst), .d({last_gated, w_gated[j*WE +: WE]}), .q(skewed)
        );
        assign w_link[0][j] = skewed[WEIGHT_BITS-1:0];
        assign idx_link[0][j] = skewed[WE-1:WEIGHT_BITS];
        assign last_link[0][j] = skewed[WE];
    end

    for (genvar i = 0; i < ROWS; i++) begin : g_row
        for (genvar j = 0; j < COLS; j++) begin : g_col
            accel_pe #(
                .ACT_BITS(ACT_BITS), .WEIGHT_BITS(WEIGHT_BITS), .ACC_BITS(ACC_BITS),
                .LANES(LANES), .IDX_BITS(IDX_BITS)
            ) u_pe (
                .clk(clk), .rst(rst),
                .a_in(a_link[i][j]), .w_in(w_link[i][j]), .idx_in(idx_link[i][j]),
                .last_in(last_link[i][j]),
                .a_out(a_link[i][j+1]), .w_out(w_link[i+1][j]), .idx_out(idx_link[i+1][j]),
                .last_out(last_link[i+1][j]),
                .result_end(res_end[i][j]), .result_valid(res_v[i][j])
            );
        end
    end

    // Per column: collect the one valid running total (a PE's result is zero unless valid, so an
    // OR does), in two registered levels of at most four inputs per bit: groups of four rows, then
    // the groups; then the tile's sum, its difference with the same row's total at its previous
    // tile's end (COLLECT_LATENCY). The rows of a column arrive in order, so the previous totals
    // are a ROWS-deep shift register that moves on each valid total: its last entry is the
    // arriving row's. The PE's own total at a tile's start is that same value (its accumulator
    // holds while bubbles carry zeros, and both are zero after a reset), so no PE keeps it.
    // Then de-skew.
    localparam int GROUPS = (ROWS + 3) / 4;
    logic [GROUPS-1:0] grp_v [COLS];
    logic [ACC_BITS-1:0] grp_end [COLS][GROUPS];
    logic [COLS-1:0] tot_v, col_v_q;
    logic [ACC_BITS-1:0] tot_end [COLS];
    logic [ACC_BITS-1:0] prev_end [COLS][ROWS];
    logic [ACC_BITS-1:0] col_q [COLS];
    always_ff @(posedge clk) begin
        if (rst) begin
            tot_v <= '0;
            col_v_q <= '0;
            for (int j = 0; j < COLS; j++) begin
                tot_end[j] <= '0;
                col_q[j] <= '0;
                grp_v[j] <= '0;
                for (int g = 0; g < GROUPS; g++) grp_end[j][g] <= '0;
                for (int i = 0; i < ROWS; i++) prev_end[j][i] <= '0;
            end
        end else begin
            for (int j = 0; j < COLS; j++) begin
                logic v;
                logic [ACC_BITS-1:0] e;
                for (int g = 0; g < GROUPS; g++) begin
                    v = 1'b0;
                    e = '0;
                    for (int i = 4 * g; i < 4 * g + 4 && i < ROWS; i++) begin
                        v = v | res_v[i][j];
                        e = e | res_end[i][j];
                    end
                    grp_v[j][g] <= v;
                    grp_end[j][g] <= e;
                end
                e = '0;
                for (int g = 0; g < GROUPS; g++) e = e | grp_end[j][g];
                tot_v[j] <= |grp_v[j];
                tot_end[j] <= e;
                if (tot_v[j]) begin
                    prev_end[j][0] <= tot_end[j];
                    for (int i = 1; i < ROWS; i++) prev_end[j][i] <= prev_end[j][i - 1];
                end
                col_v_q[j] <= tot_v[j];
                col_q[j] <= tot_end[j] - prev_end[j][ROWS - 1];
            end
        end
    end

    /* verilator lint_off UNUSEDSIGNAL */
    wire [COLS-1:0] deskew_v;
    /* verilator lint_on UNUSEDSIGNAL */
    for (genvar j = 0; j < COLS; j++) begin : g_deskew
        accel_delay #(.WIDTH(ACC_BITS + 1), .DEPTH(COLS - 1 - j)) u_deskew (
            .clk(clk), .rst(rst), .d({col_v_q[j], col_q[j]}),
            .q({deskew_v[j], out_row[j*ACC_BITS +: ACC_BITS]})
        );
    end
    assign out_valid = deskew_v[0];
    // For the controller's own copy of out_valid: it counts the rows entering the PPUs far from
    // column 0, so it registers the valid itself, a cycle early, instead of routing out_valid there.
    if (COLS == 1) begin : g_next_1
        assign out_valid_next = tot_v[0];
    end else begin : g_next
        accel_delay #(.WIDTH(1), .DEPTH(COLS - 2)) u_valid_next (
            .clk(clk), .rst(rst), .d(col_v_q[0]), .q(out_valid_next)
        );
    end
endmodule
`default_nettype wire
