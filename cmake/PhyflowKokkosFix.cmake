# Debian 12's Kokkos 3.4 (built inside Trilinos) exports Kokkos::kokkos with the include
# directory "<prefix>/lib/include", which does not exist; its headers live in
# /usr/include/trilinos. Point the target at the directory that really holds Kokkos_Core.hpp.
# Any other Kokkos (Spack's 4.x, a source build) carries a correct property and is left alone.
if(TARGET Kokkos::kokkos)
  get_target_property(_pf_kokkos_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
  set(_pf_kokkos_ok FALSE)
  foreach(_d IN LISTS _pf_kokkos_inc)
    if(EXISTS "${_d}/Kokkos_Core.hpp")
      set(_pf_kokkos_ok TRUE)
    endif()
  endforeach()
  if(NOT _pf_kokkos_ok)
    find_path(PHYFLOW_KOKKOS_INCLUDE_DIR Kokkos_Core.hpp
      PATHS /usr/include/trilinos /usr/local/include/trilinos
      DOC "Directory holding Kokkos_Core.hpp (fix for Debian's Trilinos Kokkos)")
    if(NOT PHYFLOW_KOKKOS_INCLUDE_DIR)
      message(FATAL_ERROR "Kokkos::kokkos points at '${_pf_kokkos_inc}', which has no "
        "Kokkos_Core.hpp, and /usr/include/trilinos has none either. "
        "Set PHYFLOW_KOKKOS_INCLUDE_DIR to the directory holding Kokkos_Core.hpp.")
    endif()
    set_target_properties(Kokkos::kokkos PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${PHYFLOW_KOKKOS_INCLUDE_DIR}")
  endif()
endif()
