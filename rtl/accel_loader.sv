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
// beat can go into a register first (no logic between the pins and a flip-flop); a memory word is
// written two cycles after its last beat.
module accel_loader #(
    parameter int ADDR_BITS = 16,
    parameter int BUF_BEATS = 8,
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
    output logic                     we_d,
    output logic                     we_a,
    output logic                     we_w,
    output logic                     we_b,
    output logic [ADDR_BITS-1:0]     waddr,
    output logic [BUF_BEATS*32-1:0]  wdata,
    output logic                     readout,          // one-cycle pulse for target 4
    output logic [ADDR_BITS-1:0]     readout_base,
    output logic [31:0]              readout_shape     // {columns, rows}
);
    typedef enum logic [1:0] {H0, H1, DATA} state_t;
    state_t state;
    logic [3:0] target;
    logic [27:0] addr;
    logic [31:0] count;
    logic [7:0] beat;
    logic [BUF_BEATS*32-1:0] buffer;

    assign s_axis_tready = 1'b1;

    logic        valid_q;
    logic [31:0] data_q;
    always_ff @(posedge clk) begin
        valid_q <= !rst && s_axis_tvalid;
        data_q <= s_axis_tdata;
    end

    logic [7:0] beats;
    always_comb begin
        case (target)
            4'd0: beats = 8'(BEATS_D);
            4'd1: beats = 8'(BEATS_A);
            4'd2: beats = 8'(BEATS_W);
            4'd3: beats = 8'(BEATS_B);
            default: beats = 8'd1;
        endcase
    end

    // The word being completed by this beat.
    logic [BUF_BEATS*32-1:0] word;
    always_comb begin
        word = buffer;
        for (int b = 0; b < BUF_BEATS; b++) begin
            if (beat == 8'(b)) word[b*32 +: 32] = data_q;
        end
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            state <= H0;
            target <= '0;
            addr <= '0;
            count <= '0;
            beat <= '0;
            buffer <= '0;
            {we_d, we_a, we_w, we_b, readout} <= '0;
            waddr <= '0;
            wdata <= '0;
            readout_base <= '0;
            readout_shape <= '0;
        end else begin
            {we_d, we_a, we_w, we_b, readout} <= '0;
            // Address and data follow every beat; only the one-cycle write enables say when they
            // are a complete word (no clock enable fanning out to all BUF_BEATS*32 bits).
            waddr <= addr[ADDR_BITS-1:0];
            wdata <= word;
            if (valid_q) begin
                case (state)
                    H0: begin
                        target <= data_q[31:28];
                        addr <= data_q[27:0];
                        state <= H1;
                    end
                    H1: begin
                        count <= data_q;
                        beat <= '0;
                        if (target == 4'd4) begin
                            readout <= 1'b1;
                            readout_base <= addr[ADDR_BITS-1:0];
                            readout_shape <= data_q;
                            state <= H0;
                        end else begin
                            state <= (data_q == 0) ? H0 : DATA;
                        end
                    end
                    default: begin
                        buffer <= word;
                        if (beat == beats - 8'd1) begin
                            beat <= '0;
                            we_d <= target == 4'd0;
                            we_a <= target == 4'd1;
                            we_w <= target == 4'd2;
                            we_b <= target == 4'd3;
                            addr <= addr + 28'd1;
                            count <= count - 32'd1;
                            if (count == 32'd1) state <= H0;
                        end else begin
                            beat <= beat + 8'd1;
                        end
                    end
                endcase
            end
        end
    end
endmodule
`default_nettype wire
