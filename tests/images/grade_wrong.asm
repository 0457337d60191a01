; The grader test kernel with a misspelt banner.
%define WRONG
%include "grade_kernel.inc"
