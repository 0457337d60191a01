; The interrupt-path lab, variant IRQ_MASKED (see irq_lab.inc).
%define IRQ_MASKED
%include "irq_lab.inc"
