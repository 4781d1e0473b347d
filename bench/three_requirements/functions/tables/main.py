from tabulate import tabulate


def handler(event, context):
    return tabulate(event.get("rows", [[1, 2]]))
