# CTest driver: install the library into a scratch prefix, build examples/basic against the exported
# CMake package (find_package(ghostkv)) and run it; where the package was built with the CUDA path (WITH_CUDA),
# also examples/gpu_package against ghostkv::ghostkv_cuda (the host side of its API: no GPU needed) and the installed
# Python module ghostkv_gpu.
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
  # the installed Python module ghostkv_gpu finds its library beside it: a non-finite key is refused, named, as a
  # ValueError (before any CUDA call)
  file(GLOB_RECURSE gpu_py "${prefix}/*/ghostkv_gpu.py")
  if(NOT gpu_py)
    message(FATAL_ERROR "ghostkv_gpu.py was not installed under ${prefix}")
  endif()
  list(GET gpu_py 0 gpu_py)
  get_filename_component(gpu_py_dir "${gpu_py}" DIRECTORY)
  execute_process(COMMAND /usr/bin/python3 -c
                  "import sys; sys.path.insert(0, sys.argv[1]); import numpy as np, ghostkv_gpu
k = np.zeros((70, 1, 64), np.float32); k[3, 0, 9] = np.nan
try:
    ghostkv_gpu.GhostCache(k, np.zeros_like(k))
except ValueError as e:
    assert 'key nan at token 3, KV head 0, component 9' in str(e), e
    print('installed ghostkv_gpu:', e)
else:
    raise SystemExit('installed ghostkv_gpu built a cache from a NaN key')"
                  "${gpu_py_dir}" RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "the installed ghostkv_gpu failed: ${rc}")
  endif()
endif()
