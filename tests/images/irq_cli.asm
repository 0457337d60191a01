; The interrupt-path lab, variant IRQ_CLI (see irq_lab.inc).
%define IRQ_CLI
%include "irq_lab.inc"
