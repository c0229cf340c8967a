"""The codesign accelerator's Python side.

* ``spec``: ``AccelSpec``, the RTL parameters of ``rtl/accel_top.sv`` and their allowed ranges;
* ``golden``: the bit- and cycle-exact reference model, weight packing (N:M compressed), memory
  images, descriptors and AXI4-Stream command beats;
* ``sim``: build and run the RTL with cocotb's runner (Verilator or Icarus);
* ``harness``: the cocotb-side driver (``AccelTB``) used inside the simulator.

Interface, descriptor format, memory map and cycle formula: docs/ACCELERATOR.md.
"""
