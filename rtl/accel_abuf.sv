`default_nettype none
// Write-back of a layer's results into the activation memory (layer chaining, no host round trip).
//
// Every output row of the PPUs (one sample / pixel, COLS results) becomes COLS/LANES activation
// words, each result truncated to ACT_BITS, written one cycle later in one go as one row of
// accel_amem (WORDS words): base is a multiple of WORDS (golden.Descriptor.check_write_back), so
// the row's words go to base, base+1, ... (the words of columns past N are written too: the
// compiler leaves them unused, KG_out = NT*COLS/LANES).
module accel_abuf #(
    parameter int COLS     = 4,
    parameter int LANES    = 4,
    parameter int ACT_BITS = 8,
    parameter int ACC_BITS = 32,
    parameter int WORDS    = 1,   // write width of accel_amem in words (>= COLS / LANES, power of two)
    parameter int AA       = 10,
    parameter int ROW_WORDS = (COLS >= LANES) ? COLS / LANES : 1,  // words of one output row
    localparam int SB = $clog2(WORDS)
) (
    input  wire                             clk,
    input  wire                             rst,
    input  wire                             row_valid,   // write this row
    input  wire [COLS*ACC_BITS-1:0]         row,
    input  wire [AA-1:0]                    base,        // address of the row's first word, a multiple of WORDS
    output logic [WORDS-1:0]                we,
    output logic [AA-SB-1:0]                wrow,
    output logic [WORDS*LANES*ACT_BITS-1:0] wdata
);
    /* verilator lint_off UNUSEDSIGNAL */
    wire [COLS*ACC_BITS-1:0] row_bits = row;   // only the low ACT_BITS of each result are kept
    wire [AA-1:0] base_bits = base;            // the word in the row is 0
    /* verilator lint_on UNUSEDSIGNAL */
    logic [WORDS*LANES*ACT_BITS-1:0] packed_row;
    always_comb begin
        packed_row = '0;
        for (int p = 0; p < WORDS * LANES; p++) begin
            if (p < COLS) packed_row[p*ACT_BITS +: ACT_BITS] = row_bits[p*ACC_BITS +: ACT_BITS];
        end
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            we <= '0;
            wrow <= '0;
            wdata <= '0;
        end else begin
            for (int w = 0; w < WORDS; w++) we[w] <= row_valid && w < ROW_WORDS;
            // Zero while not writing: the top level ORs the activation memory's writers.
            wrow <= row_valid ? base_bits[AA-1:SB] : '0;
            wdata <= row_valid ? packed_row : '0;
        end
    end
endmodule
`default_nettype wire
