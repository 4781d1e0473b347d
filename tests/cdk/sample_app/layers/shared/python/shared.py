def tag():
    return "shared-layer"
