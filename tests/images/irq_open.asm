; The interrupt-path lab, variant IRQ_OPEN (see irq_lab.inc).
%define IRQ_OPEN
%include "irq_lab.inc"
