`default_nettype none
// A simple dual-port RAM of WIDTH-bit words written 32 bits at a time: the loader's beats go
// straight to 32-bit slices (accel_sdpram), each with its own write enable, so no word-wide write
// bus crosses the chip. Each slice registers its write port beside itself (kept: the slices of a
// wide memory sit apart along a block-RAM row, or as LUT RAM wherever the placer puts them); a
// beat is written one cycle after it arrives here. RADDR_REG = 1 gives each slice a kept copy of
// the read address too (one more cycle of read latency), for a memory whose slices are many and
// whose one address register would otherwise fan out to all of them.
module accel_beat_ram #(
    parameter int WIDTH     = 64,
    parameter int DEPTH     = 16,
    parameter int RADDR_REG = 0,
    localparam int SLICES   = (WIDTH + 31) / 32,
    localparam int AW       = $clog2(DEPTH)
) (
    input  wire                clk,
    input  wire                we,
    input  wire [SLICES-1:0]   beat,     // one-hot: the slice this write goes to
    input  wire [AW-1:0]       waddr,
    input  wire [31:0]         wdata,
    input  wire [AW-1:0]       raddr,
    output wire [WIDTH-1:0]    rdata
);
    wire unused_wdata = &{1'b0, wdata};   // a narrow last slice leaves a beat's high bits unused
    for (genvar s = 0; s < SLICES; s++) begin : g_slice
        localparam int LO = s * 32;
        localparam int W = (WIDTH - LO < 32) ? WIDTH - LO : 32;
        logic slice_we;
        logic [AW-1:0] slice_waddr;
        logic [W-1:0] slice_wdata;
        (* keep *)
        always_ff @(posedge clk) begin
            slice_we <= we && beat[s];
            slice_waddr <= waddr;
            slice_wdata <= wdata[W-1:0];
        end
        wire [AW-1:0] slice_raddr;
        if (RADDR_REG != 0) begin : g_raddr_q
            logic [AW-1:0] raddr_q;
            (* keep *)
            always_ff @(posedge clk) raddr_q <= raddr;
            assign slice_raddr = raddr_q;
        end else begin : g_raddr
            assign slice_raddr = raddr;
        end
        accel_sdpram #(.WIDTH(W), .DEPTH(DEPTH)) u_ram (
            .clk(clk), .we(slice_we), .waddr(slice_waddr), .wdata(slice_wdata),
            .raddr(slice_raddr), .rdata(rdata[LO +: W]));
    end
endmodule
`default_nettype wire
