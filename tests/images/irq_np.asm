; The interrupt-path lab, variant IRQ_NP (see irq_lab.inc).
%define IRQ_NP
%include "irq_lab.inc"
