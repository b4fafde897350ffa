"""Label codes: shape, and that a printed code is safe to type and to pass on a command line."""

from registry.core.labels import CODE_RE, extract_code, new_code


def test_codes_start_and_end_with_a_letter_or_digit():
    # 1 in 16 raw draws starts or ends with '-' or '_'; 3,000 draws would all but surely hit one.
    codes = [new_code() for _ in range(3000)]
    assert all(c[0].isalnum() and c[-1].isalnum() for c in codes)
    assert all(CODE_RE.match(c) for c in codes)
    assert len(set(codes)) == len(codes)


def test_extract_code_accepts_url_path_and_bare_code_only():
    code = new_code()
    assert extract_code(f"https://registry.example/s/{code}", "https://registry.example") == code
    assert extract_code(f"/s/{code}/", "") == code
    assert extract_code(f"  {code} ", "") == code
    assert extract_code("javascript:alert(1)", "") is None
    assert extract_code("x" * 500, "") is None
