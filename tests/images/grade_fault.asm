; The grader test kernel that triple faults after its banner.
%define FAULT
%include "grade_kernel.inc"
