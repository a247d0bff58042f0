# Writes bench_commit.h with the source tree's commit (and "+dirty" when src/, include/ or bench/ have
# uncommitted changes) at build time, so a benchmark binary carries its own provenance.
execute_process(COMMAND git -C "${SRC}" rev-parse --short HEAD OUTPUT_VARIABLE c OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
execute_process(COMMAND git -C "${SRC}" status --porcelain -- src include bench OUTPUT_VARIABLE d
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT c)
  set(c "unknown")
endif()
if(d)
  set(c "${c}+dirty")
endif()
file(WRITE "${OUT}.tmp" "#define GHOSTKV_BENCH_COMMIT \"${c}\"\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
