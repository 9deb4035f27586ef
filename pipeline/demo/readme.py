def text(seed, rows):
    return "placeholder\n"
