# keypool_first_cpp_block(<markdown file> <out var> <who>): sets <out var> to the text of the file's
# first ```cpp fenced block, its last newline kept. The first line that is exactly ```cpp opens the
# block (it may be the file's first line); the next line starting with ``` closes it. Fails with a
# message prefixed "<who>: " when there is no such block or it is never closed. Used in -P scripts.
function(keypool_first_cpp_block file out who)
  file(READ "${file}" text)
  string(REPLACE "\r\n" "\n" text "${text}")
  string(FIND "${text}" "\n```cpp\n" open)
  if(open EQUAL -1)
    string(FIND "${text}" "```cpp\n" open)  # the file may start with the fence
    if(NOT open EQUAL 0)
      message(FATAL_ERROR "${who}: ${file} has no ```cpp fenced block")
    endif()
    set(open -1)
  endif()
  math(EXPR start "${open} + 8")
  string(SUBSTRING "${text}" ${start} -1 rest)
  string(FIND "${rest}" "\n```" close)
  if(close EQUAL -1)
    message(FATAL_ERROR "${who}: the first ```cpp block of ${file} is never closed")
  endif()
  math(EXPR close "${close} + 1")  # keep the block's last newline
  string(SUBSTRING "${rest}" 0 ${close} block)
  set(${out} "${block}" PARENT_SCOPE)
endfunction()
