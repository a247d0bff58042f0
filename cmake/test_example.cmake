# CTest driver: install the library into a scratch prefix, build examples/basic against the exported
# CMake package (find_package(ghostkv)) and run it; where the package was built with the CUDA path (WITH_CUDA),
# also examples/gpu_package against ghostkv::ghostkv_cuda (the host side of its API: no GPU needed).
set(prefix "${BUILD_DIR}/_example/prefix")
file(REMOVE_RECURSE "${BUILD_DIR}/_example")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "install failed: ${rc}")
endif()

# configure examples/<name> against the installed package in <build>, build it and run <build>/<exe>
function(build_and_run name build exe)
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}/examples/${name}" -B "${build}" -DCMAKE_PREFIX_PATH=${prefix}
                  -DCMAKE_BUILD_TYPE=Release RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "configuring examples/${name} against the installed package failed: ${rc}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} --build "${build}" RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "building examples/${name} failed: ${rc}")
  endif()
  execute_process(COMMAND "${build}/${exe}" RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "examples/${name} failed: ${rc}")
  endif()
endfunction()

build_and_run(basic "${BUILD_DIR}/_example/build" basic)
if(WITH_CUDA)
  build_and_run(gpu_package "${BUILD_DIR}/_example/build_gpu" gpu_package)
endif()
