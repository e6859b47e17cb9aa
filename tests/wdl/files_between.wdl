version 1.2

import "files_between_sub.wdl" as sub

# Every way a File or Directory reaches the next task: a task's File output, a stdout() output,
# an output that is itself a symlink, a subworkflow's output, a Directory, compound values
# (Array, Map, Pair, struct), names with spaces, and a user's input that is a relative symlink.
# Each downstream task reads the bytes and checks them; writes to inputs must fail.

struct Bundle {
  File data
  Array[File] more
}

workflow files_between {
  input {
    File user_file
  }

  call make
  call sub.nested { input: seed = make.plain }

  call check {
    input:
      plain = make.plain,
      spaced = make.spaced,
      out_stream = make.out_stream,
      linked = make.linked,
      tree = make.tree,
      many = make.many,
      pairs = make.pairs,
      paired = make.paired,
      bundle = make.bundle,
      from_sub = nested.copied,
      user_file = user_file
  }

  output {
    File plain = make.plain
    File passed_through = user_file
    Array[File] many = make.many
    Map[File, File] pairs = make.pairs
    Pair[File, String] paired = make.paired
    Bundle bundle = make.bundle
    Directory tree = make.tree
    String looks_like_a_path = check.path_string
    Int checked = check.checked
  }
}

task make {
  command <<<
    set -e
    echo "plain bytes" > plain.txt
    echo "spaced bytes" > "with space.txt"
    echo "linked bytes" > target.txt
    ln -s target.txt link.txt
    mkdir -p tree/sub
    echo "tree bytes" > tree/sub/leaf.txt
    for i in 1 2 3; do echo "many $i" > "many$i.txt"; done
    echo "key bytes" > key.txt
    echo "value bytes" > value.txt
    echo "stream bytes"
  >>>
  output {
    File plain = "plain.txt"
    File spaced = "with space.txt"
    File out_stream = stdout()
    File linked = "link.txt"
    Directory tree = "tree"
    Array[File] many = ["many1.txt", "many2.txt", "many3.txt"]
    Map[File, File] pairs = {"key.txt": "value.txt"}
    Pair[File, String] paired = ("plain.txt", "right")
    Bundle bundle = Bundle { data: "plain.txt", more: ["many1.txt"] }
  }
}

task check {
  input {
    File plain
    File spaced
    File out_stream
    File linked
    Directory tree
    Array[File] many
    Map[File, File] pairs
    Pair[File, String] paired
    Bundle bundle
    File from_sub
    File user_file
  }
  command <<<
    set -e
    expect() { [ "$(cat "$1")" = "$2" ] || { echo "$1: got '$(cat "$1")', want '$2'" >&2; exit 1; }; }
    expect "~{plain}" "plain bytes"
    expect "~{spaced}" "spaced bytes"
    expect "~{out_stream}" "stream bytes"
    expect "~{linked}" "linked bytes"
    expect "~{tree}/sub/leaf.txt" "tree bytes"
    expect "~{many[2]}" "many 3"
    expect "~{paired.left}" "plain bytes"
    expect "~{bundle.data}" "plain bytes"
    expect "~{bundle.more[0]}" "many 1"
    expect "~{from_sub}" "plain bytes
    sub bytes"
    expect "~{user_file}" "user bytes"
    cat "~{write_json(pairs)}" > /dev/null
    # No task may change a file it did not create.
    for f in "~{plain}" "~{user_file}" "~{tree}/sub/leaf.txt" "~{from_sub}"; do
      if (echo tampered >> "$f") 2>/dev/null; then echo "wrote to input $f" >&2; exit 1; fi
    done
    echo "~{plain}" > path_string.txt
    echo 11
  >>>
  output {
    String path_string = read_string("path_string.txt")
    Int checked = read_int(stdout())
  }
}
