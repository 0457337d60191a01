; The grader test kernel (grade_kernel.inc), the correct one.
%include "grade_kernel.inc"
