`default_nettype none
// AXI4-Stream slave that writes the accelerator's memories and issues read-out commands.
//
// A command is a header of two 32-bit beats, then its payload:
//   beat 0: {target[31:28], address[27:0]}    beat 1: count
//   target 0 descriptors, 1 activations, 2 weights, 3 biases: `count` memory words follow, each
//     as ceil(width / 32) beats, least significant beat first;
//   target 4 read-out: no payload; stream out `count[15:0]` rows x `count[31:16]` columns of
//     results from the output memory starting at `address` (see accel_streamer).
// Other targets are consumed and ignored. The slave never back-pressures (tready = 1), so every
// beat goes into a register first (only the count's two zero / one flags are decoded on the way
// in). Each payload beat leaves as a write of its own, one register after the beat register:
// its 32 bits, the word address, the target memory's enable and the beat's place in the word
// (one-hot `beat`). The memories are built of 32-bit slices with a write enable each
// (accel_beat_ram), so no word is assembled here and no word-wide bus leaves the loader.
// A payload beat (targets 0-3) or a read-out command taken while `busy` is high is dropped: no
// write, no read-out, and a one-cycle `dropped` pulse (the command is still parsed, so the stream
// stays in step). `busy` is registered as it arrives, beside the beat register.
module accel_loader #(
    parameter int ADDR_BITS = 16,
    parameter int BUF_BEATS = 8,        // beats of the widest word (the width of `beat`)
    parameter int BEATS_D   = 8,
    parameter int BEATS_A   = 1,
    parameter int BEATS_W   = 1,
    parameter int BEATS_B   = 1
) (
    input  wire                      clk,
    input  wire                      rst,
    input  wire [31:0]               s_axis_tdata,
    input  wire                      s_axis_tvalid,
    output wire                      s_axis_tready,
    output logic                     we_d,             // this beat goes to the descriptor memory
    output logic                     we_a,
    output logic                     we_w,
    output logic                     we_b,
    output logic [BUF_BEATS-1:0]     beat,             // its 32-bit slice of the word, one-hot
    output logic [ADDR_BITS-1:0]     waddr,
    output logic [31:0]              wdata,
    output logic                     readout,          // one-cycle pulse for target 4
    output logic [ADDR_BITS-1:0]     readout_base,
    output logic [31:0]              readout_shape,    // {columns, rows}
    input  wire                      busy,             // a run is in progress: drop writes and read-outs
    output logic                     dropped           // a beat or a read-out was dropped
);
    typedef enum logic [1:0] {H0, H1, DATA} state_t;
    state_t state;
    logic [3:0] target;
    logic [3:0] target_mem;             // one-hot: target 0..3 (a memory)
    logic target_readout;               // target == 4
    logic [27:0] addr;
    logic [31:0] count;
    logic count_last;                   // count == 1
    // The beat of the word being loaded, one-hot, and the beats still to come, one-hot and
    // shifting down (bit 0 set on the word's last beat): no comparator in front of the enables.
    logic [BUF_BEATS-1:0] beat_oh, left_oh, last_oh;

    assign s_axis_tready = 1'b1;

    logic        valid_q;
    logic [31:0] data_q;
    logic        data_zero, data_one;   // data_q == 0, data_q == 1 (a count beat's two cases)
    logic        hold;                  // busy when the beat in data_q was taken
    always_ff @(posedge clk) begin
        valid_q <= !rst && s_axis_tvalid;
        hold <= busy;
        data_q <= s_axis_tdata;
        data_zero <= s_axis_tdata == 32'd0;
        data_one <= s_axis_tdata == 32'd1;
    end

    // One-hot position of a word's last beat, by target.
    logic [BUF_BEATS-1:0] target_last;
    always_comb begin
        case (target)
            4'd0: target_last = BUF_BEATS'(1) << (BEATS_D - 1);
            4'd1: target_last = BUF_BEATS'(1) << (BEATS_A - 1);
            4'd2: target_last = BUF_BEATS'(1) << (BEATS_W - 1);
            4'd3: target_last = BUF_BEATS'(1) << (BEATS_B - 1);
            default: target_last = BUF_BEATS'(1);
        endcase
    end

    always_ff @(posedge clk) begin
        // Address, data and slice follow every beat; only the one-cycle enables say when they
        // are a write.
        waddr <= addr[ADDR_BITS-1:0];
        wdata <= data_q;
        beat <= beat_oh;
        if (rst) begin
            state <= H0;
            target <= '0;
            {target_mem, target_readout} <= '0;
            addr <= '0;
            count <= '0;
            count_last <= 1'b0;
            {beat_oh, left_oh, last_oh} <= '0;
            {we_d, we_a, we_w, we_b, readout, dropped} <= '0;
            readout_base <= '0;
            readout_shape <= '0;
        end else begin
            {we_d, we_a, we_w, we_b, readout, dropped} <= '0;
            if (valid_q) begin
                case (state)
                    H0: begin
                        target <= data_q[31:28];
                        for (int t = 0; t < 4; t++) target_mem[t] <= data_q[31:28] == 4'(t);
                        target_readout <= data_q[31:28] == 4'd4;
                        addr <= data_q[27:0];
                        state <= H1;
                    end
                    H1: begin
                        count <= data_q;
                        count_last <= data_one;
                        beat_oh <= BUF_BEATS'(1);
                        left_oh <= target_last;
                        last_oh <= target_last;
                        if (target_readout) begin
                            readout <= !hold;
                            dropped <= hold;
                            readout_base <= addr[ADDR_BITS-1:0];
                            readout_shape <= data_q;
                            state <= H0;
                        end else begin
                            state <= data_zero ? H0 : DATA;
                        end
                    end
                    default: begin
                        {we_b, we_w, we_a, we_d} <= hold ? 4'd0 : target_mem;
                        dropped <= hold && |target_mem;
                        if (left_oh[0]) begin
                            beat_oh <= BUF_BEATS'(1);
                            left_oh <= last_oh;
                            addr <= addr + 28'd1;
                            count <= count - 32'd1;
                            count_last <= count == 32'd2;
                            if (count_last) state <= H0;
                        end else begin
                            beat_oh <= beat_oh << 1;
                            left_oh <= left_oh >> 1;
                        end
                    end
                endcase
            end
        end
    end
endmodule
`default_nettype wire
