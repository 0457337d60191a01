; The interrupt-path lab, variant IRQ_TPR (see irq_lab.inc).
%define IRQ_TPR
%include "irq_lab.inc"
