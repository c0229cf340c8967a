`default_nettype none
// Output-tile buffer that writes a layer's results back into the activation memory, in the
// activation layout, so the next descriptor of a chain can read them (no host round trip).
//
// Rows of an output tile arrive one per cycle, in order 0..ROWS-1 (every tile is complete, so a
// one-hot row pointer that advances on every valid row stays in step with `row_i`, and no wide
// comparator sits in front of the collect registers' enables);
// after the last row the whole tile is copied to a second buffer and written as WORDS = COLS/LANES
// activation words, one per cycle, at base, base+1, ... (only `count` of them: columns past the
// next layer's K are not written). Each word holds, for array row i and lane l, result
// (i, w*LANES + l) truncated to ACT_BITS. Tiles arrive at least ROWS cycles apart and
// WORDS <= ROWS, so one tile's writes end before the next tile completes.
module accel_abuf #(
    parameter int ROWS     = 4,
    parameter int COLS     = 4,
    parameter int LANES    = 4,
    parameter int ACT_BITS = 8,
    parameter int ACC_BITS = 32,
    parameter int AA       = 10
) (
    input  wire                          clk,
    input  wire                          rst,
    input  wire                          enable,
    input  wire                          row_valid,
    input  wire [15:0]                   row_i,
    input  wire [COLS*ACC_BITS-1:0]      row,
    input  wire [AA-1:0]                 base,     // address of the tile's first word
    input  wire [15:0]                   count,    // words to write (1..WORDS)
    output logic                         we,
    output logic [AA-1:0]                waddr,
    output wire [ROWS*LANES*ACT_BITS-1:0] wdata,
    output wire                          busy
);
    localparam int WORDS = (COLS >= LANES) ? COLS / LANES : 1;
    localparam int WB = (WORDS > 1) ? $clog2(WORDS) : 1;

    logic [ACT_BITS-1:0] collect [ROWS][COLS];
    logic [ACT_BITS-1:0] tile [ROWS][COLS];
    logic [WB-1:0] word;
    logic [15:0] left;
    logic [ROWS-1:0] pos;          // one-hot: the row the next valid row is
    wire unused_row_i = &{1'b0, row_i};

    /* verilator lint_off UNUSEDSIGNAL */
    wire [COLS*ACC_BITS-1:0] row_bits = row;   // only the low ACT_BITS of each result are kept
    /* verilator lint_on UNUSEDSIGNAL */

    assign busy = we;
    wire [ROWS*LANES*ACT_BITS-1:0] words [WORDS];
    for (genvar w = 0; w < WORDS; w++) begin : g_word
        for (genvar i = 0; i < ROWS; i++) begin : g_row
            for (genvar l = 0; l < LANES; l++) begin : g_lane
                if (w*LANES + l < COLS) begin : g_col
                    assign words[w][(i*LANES + l)*ACT_BITS +: ACT_BITS] = tile[i][w*LANES + l];
                end else begin : g_none   // COLS < LANES: the reference model refuses write-back
                    assign words[w][(i*LANES + l)*ACT_BITS +: ACT_BITS] = '0;
                end
            end
        end
    end
    if (WORDS == 1) begin : g_one_word
        wire unused_word = &{1'b0, word};
        assign wdata = words[0];
    end else begin : g_words
        assign wdata = words[word];
    end

    wire last_row = row_valid && enable && pos[ROWS-1];

    always_ff @(posedge clk) begin
        if (rst) begin
            we <= 1'b0;
            waddr <= '0;
            word <= '0;
            left <= '0;
            pos <= ROWS'(1);
        end else begin
            if (row_valid) pos <= ROWS'({pos, pos[ROWS-1]});   // rotate left
            if (row_valid) begin
                for (int i = 0; i < ROWS; i++) begin
                    if (pos[i]) begin
                        for (int j = 0; j < COLS; j++) collect[i][j] <= row_bits[j*ACC_BITS +: ACT_BITS];
                    end
                end
            end
            if (last_row) begin
                for (int i = 0; i < ROWS - 1; i++) begin
                    for (int j = 0; j < COLS; j++) tile[i][j] <= collect[i][j];
                end
                for (int j = 0; j < COLS; j++) tile[ROWS-1][j] <= row_bits[j*ACC_BITS +: ACT_BITS];
                we <= 1'b1;
                waddr <= base;
                word <= '0;
                left <= count;
            end else if (we) begin
                if (left == 16'd1) begin
                    we <= 1'b0;
                end else begin
                    waddr <= waddr + 1'b1;
                    word <= word + 1'b1;
                end
                left <= left - 16'd1;
            end
        end
    end
endmodule
`default_nettype wire
