# Writes OUTPUT, a C++ source defining phyflow::build_git_sha(): the commit the build was made
# from, with "-dirty" when tracked files differ from it. Run at every build (the target
# phyflow_git_sha), not only at configure time: the sha is provenance written into every
# output file, and an incremental build after a pull or a commit must not carry the old one.
# The file is rewritten only when its text changes, so an unchanged tree recompiles nothing.
#   cmake -DSOURCE_DIR=... -DOUTPUT=... [-DGIT_EXECUTABLE=...] -P PhyflowGitSha.cmake
set(_sha "unknown")
if(GIT_EXECUTABLE AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --short=12 HEAD
    WORKING_DIRECTORY "${SOURCE_DIR}"
    OUTPUT_VARIABLE _head OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
  if(_rc EQUAL 0 AND _head)
    set(_sha "${_head}")
    # Refresh the index's stat data first, or a touched but unchanged file reads as dirty.
    execute_process(COMMAND "${GIT_EXECUTABLE}" update-index -q --refresh
      WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_QUIET ERROR_QUIET)
    execute_process(COMMAND "${GIT_EXECUTABLE}" diff-index --quiet HEAD --
      WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_QUIET ERROR_QUIET RESULT_VARIABLE _dirty)
    if(_dirty EQUAL 1)
      string(APPEND _sha "-dirty")
    endif()
  endif()
endif()
set(_text "// Generated at build time by cmake/PhyflowGitSha.cmake: do not edit.\n\
namespace phyflow {\n\
const char* build_git_sha() noexcept { return \"${_sha}\"; }\n\
}  // namespace phyflow\n")
set(_old "")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" _old)
endif()
if(NOT _old STREQUAL _text)
  file(WRITE "${OUTPUT}" "${_text}")
endif()
