version 1.2

struct Person {
  String name
  Map[String, String]? details
}

workflow test_contains_key {
  input {
    Map[String, Int] m
    String key1
    String key2
    Person p1
    Person p2
  }

  output {
    Int? i1 = m[s1] if contains_key(m, key1) else None
    Int? i2 = m[s2] if contains_key(m, key2) else None
    String? phone1 = p1.details["phone"] if contains_key(p1, ["details", "phone"]) else None
    String? phone2 = p2.details["phone"] if contains_key(p2, ["details", "phone"]) else None
  }
}
