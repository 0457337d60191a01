; The interrupt-path lab, variant IRQ_NOEOI (see irq_lab.inc).
%define IRQ_NOEOI
%include "irq_lab.inc"
