`default_nettype none
// AXI4-Stream master that reads results out of the output memory.
//
// Output memory layout: one word per (row m, column tile t) at base + m * NT + t, holding COLS
// results of ACC_BITS bits (column t*COLS + j in bits [j*ACC_BITS +: ACC_BITS]). A read-out of
// `rows` x `cols` results walks the words in address order and sends one 32-bit beat per result
// (sign-extended), row-major, skipping the unused columns of each row's last tile; tlast marks
// the final result. The read address is registered on its way to the output memory (a register
// the placer can put beside the block RAMs) and the read data is registered before any logic
// (rdata_q: the block RAM's own output register on ECP5), so a word is read in four cycles (READ,
// ADDR, WAIT, LATCH).
// The start pulse and its base / rows / cols are registered as they come in (the top level
// multiplexes them between the controller and the loader's read-out command, both far away), and
// every compare the handshake depends on is a register computed a state ahead. Streaming is not
// counted in perf_cycles, so these cycles change no cycle count of the reference model.
module accel_streamer #(
    parameter int COLS      = 4,
    parameter int ACC_BITS  = 32,
    parameter int ADDR_BITS = 10
) (
    input  wire                      clk,
    input  wire                      rst,
    input  wire                      start,
    input  wire [ADDR_BITS-1:0]      base,
    input  wire [15:0]               rows,
    input  wire [15:0]               cols,
    output wire [ADDR_BITS-1:0]      omem_raddr,
    input  wire [COLS*ACC_BITS-1:0]  omem_rdata,
    output wire [31:0]               m_axis_tdata,
    output wire                      m_axis_tvalid,
    input  wire                      m_axis_tready,
    output wire                      m_axis_tlast,
    output logic                     finished       // one-cycle pulse
);
    typedef enum logic [2:0] {IDLE, READ, ADDR, WAIT, LATCH, SEND} state_t;
    localparam int LB = (COLS > 1) ? $clog2(COLS) : 1;
    state_t state;
    logic [ADDR_BITS-1:0] addr;
    logic [15:0] rows_left, cols_left, cols_total;
    logic [LB:0] in_word;                 // results left in the current word
    // rows_left == 1, cols_left == 1, in_word == 1, cols_total == 1, cols_left < COLS and "nothing
    // to send", kept in registers: the handshake's updates depend on flip-flops, not on compares.
    logic last_row, last_col, last_in_word, one_col, short_row, empty;
    // state == SEND and LATCH in flip-flops of their own (the bus valid and every handshake
    // update read them), and the next values of addr and rows_left, registered every cycle: both
    // stay put for at least the four cycles of a read after they change, so the updates are
    // multiplexers.
    logic sending, latching;   // latching: state == LATCH, which loads the whole word
    logic [ADDR_BITS-1:0] addr_p1;
    logic [15:0] rows_left_m1;
    logic rows_left_is2;
    // cols_left - 3, counted down beside cols_left from LATCH on (loaded from a free-running copy:
    // cols_left has been stable since READ): while a row has results left after this one,
    // its sign is cols_left == 2, so last_col needs no 16-bit compare.
    logic signed [16:0] cols_m3, cols_left_m3;
    wire beat = sending && m_axis_tready;
    logic start_q;
    logic [ADDR_BITS-1:0] base_q;
    logic [15:0] rows_q, cols_q;
    logic [COLS*ACC_BITS-1:0] rdata_q;

    logic [ADDR_BITS-1:0] raddr_q;
    assign omem_raddr = raddr_q;
    assign m_axis_tvalid = sending;
    // The word is loaded once (LATCH) and shifts one result down on every cycle with tready, so
    // the bus is driven from flip-flops (a COLS-way multiplexer of the word in front of the pins
    // was one of the most congested spots of the 8x8 build, router2's heat map). Outside SEND the
    // shifts are harmless (tvalid is low, and LATCH reloads the word), so a slot's update reads a
    // copy of `latching` of its own and the tready pin, not the state.
    wire [ACC_BITS-1:0] word [COLS+1];
    assign word[COLS] = '0;
    for (genvar j = 0; j < COLS; j++) begin : g_word
        logic load;
        (* keep *)
        always_ff @(posedge clk) load <= state == WAIT;
        logic [ACC_BITS-1:0] slot;
        always_ff @(posedge clk) begin
            if (rst) slot <= '0;
            else if (load) slot <= rdata_q[j*ACC_BITS +: ACC_BITS];
            else if (m_axis_tready) slot <= word[j + 1];
        end
        assign word[j] = slot;
    end
    assign m_axis_tdata = 32'($signed(word[0]));
    assign m_axis_tlast = last_row && last_col;

    always_ff @(posedge clk) begin
        rdata_q <= omem_rdata;
        raddr_q <= addr;
        start_q <= start && !rst;
        base_q <= base;
        rows_q <= rows;
        cols_q <= cols;
        addr_p1 <= addr + 1'b1;
        rows_left_m1 <= rows_left - 16'd1;
        rows_left_is2 <= rows_left == 16'd2;
        cols_left_m3 <= 17'(cols_left) - 17'sd3;
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            state <= IDLE;
            addr <= '0;
            rows_left <= '0;
            cols_left <= '0;
            cols_total <= '0;
            cols_m3 <= '0;
            in_word <= '0;
            {last_row, last_col, last_in_word, one_col, short_row, empty, sending, latching} <= '0;
            finished <= 1'b0;
        end else begin
            finished <= 1'b0;
            latching <= state == WAIT;   // WAIT always goes on to LATCH
            if (latching) begin
                cols_m3 <= cols_left_m3;
                in_word <= short_row ? cols_left[LB:0] : (LB+1)'(COLS);
                last_in_word <= short_row ? last_col : COLS == 1;
            end
            case (state)
                IDLE: if (start_q) begin
                    addr <= base_q;
                    rows_left <= rows_q;
                    cols_left <= cols_q;
                    cols_total <= cols_q;
                    last_row <= rows_q == 16'd1;
                    last_col <= cols_q == 16'd1;
                    one_col <= cols_q == 16'd1;
                    empty <= rows_q == 16'd0 || cols_q == 16'd0;
                    state <= READ;
                end
                READ: begin
                    short_row <= cols_left < 16'(COLS);
                    finished <= empty;
                    state <= empty ? IDLE : ADDR;
                end
                ADDR: state <= WAIT;
                WAIT: state <= LATCH;
                LATCH: begin
                    sending <= 1'b1;
                    state <= SEND;
                end
                default: ;   // SEND: the handshake, below
            endcase
            // A beat happens only in SEND (`sending`), so its updates need no state decode.
            if (beat) begin
                in_word <= in_word - 1'b1;
                last_in_word <= in_word == (LB+1)'(2);
                cols_left <= cols_left - 16'd1;
                cols_m3 <= cols_m3 - 17'sd1;
                last_col <= !last_col && cols_m3[16];
                if (last_col) begin
                    addr <= addr_p1;
                    sending <= 1'b0;
                    if (last_row) begin
                        state <= IDLE;
                        finished <= 1'b1;
                    end else begin
                        rows_left <= rows_left_m1;
                        last_row <= rows_left_is2;
                        cols_left <= cols_total;
                        last_col <= one_col;
                        state <= READ;
                    end
                end else if (last_in_word) begin
                    addr <= addr_p1;
                    sending <= 1'b0;
                    state <= READ;
                end
            end
        end
    end

`ifndef SYNTHESIS
    // AXI4-Stream: a beat offered and not taken stays offered, unchanged, until it is taken.
    logic stall_q, last_q;
    logic [31:0] data_q;
    always @(posedge clk) begin
        stall_q <= !rst && m_axis_tvalid && !m_axis_tready;
        data_q <= m_axis_tdata;
        last_q <= m_axis_tlast;
        if (!rst && stall_q)
            assert (m_axis_tvalid && m_axis_tdata == data_q && m_axis_tlast == last_q)
                else $error("accel_streamer: tvalid, tdata or tlast changed while the beat waited for tready");
    end
`endif
endmodule
`default_nettype wire
