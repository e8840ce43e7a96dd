# Included into vla_r1_interfaces' configure step by ros2_ws/build_interfaces.py (CMAKE_PROJECT_INCLUDE)
# when it builds against the ROS 2 wheels from PyPI. Their exported rosidl_generator_py targets name
# the Python and numpy include folders of the machine the wheels were built on, which do not exist
# here; at the end of configuration (after every find_package) point them at this Python's folders.
# A full ROS install never needs this file.
cmake_minimum_required(VERSION 3.21)  # DIRECTORY IMPORTED_TARGETS
find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)

function(_vla_r1_point_python_includes_here)
  get_property(imported DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(target IN LISTS imported)
    get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT dirs)
      continue()
    endif()
    set(fixed "")
    set(changed FALSE)
    foreach(dir IN LISTS dirs)
      if(NOT EXISTS "${dir}" AND dir MATCHES "/include/python3\\.[0-9]+$")
        list(APPEND fixed ${Python3_INCLUDE_DIRS})
        set(changed TRUE)
      elseif(NOT EXISTS "${dir}" AND dir MATCHES "/numpy/(_core|core)/include$")
        list(APPEND fixed ${Python3_NumPy_INCLUDE_DIRS})
        set(changed TRUE)
      else()
        list(APPEND fixed "${dir}")
      endif()
    endforeach()
    if(changed)
      set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${fixed}")
    endif()
  endforeach()
endfunction()

cmake_language(DEFER CALL _vla_r1_point_python_includes_here)
