def handler(event, context):
    request = event["Records"][0]["cf"]["request"]
    request["uri"] = "/index.html"
    return request
