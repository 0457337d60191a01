; The grader test kernel that hangs after its banner.
%define HANG
%include "grade_kernel.inc"
