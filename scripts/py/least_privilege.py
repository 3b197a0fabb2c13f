"""Creates the exporter's least-privilege user and role on a Milvus with authentication on.

    python scripts/py/least_privilege.py URI USER PASSWORD [COLLECTION]

Connects as root (root:Milvus), creates USER with PASSWORD and a role of the same name holding
only the grants docs/compatibility.md ("Least privilege") lists for Milvus 2.3 and 2.4.0-2.4.9,
on every database, and, when COLLECTION is given, creates it (dimension 8, loaded) with a few
rows so a probe has something to read. Prints the role's grants, one per line. Any existing
user, role or collection of those names is dropped first, so a rerun starts clean.

The grants come from tests/fixtures/milvus/privileges.json ("grants_2.3.5"), where the source
of each is named.
"""
import sys

from pymilvus import MilvusClient, Role, connections, utility

GLOBAL = ["ListDatabases", "ShowCollections", "DescribeCollection"]
# 2.4.10 and later check GetLoadState for GetLoadState/GetLoadingProgress instead of Load.
COLLECTION = ["Load", "GetStatistics", "IndexDetail", "Query", "Search"]


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    uri, user, password = argv[1:4]
    collection = argv[4] if len(argv) == 5 else None
    connections.connect(alias="default", uri=uri, token="root:Milvus")
    if collection:
        client = MilvusClient(uri=uri, token="root:Milvus")
        if client.has_collection(collection):
            client.drop_collection(collection)
        client.create_collection(collection, dimension=8)
        client.insert(collection, [{"id": i, "vector": [float((i + k) % 5) for k in range(8)]}
                                   for i in range(20)])
        client.flush(collection)
    if user in utility.list_usernames():
        utility.delete_user(user)
    role = Role(user)
    if role.is_exist():
        for grant in role.list_grants().groups:
            role.revoke(grant.object, grant.object_name, grant.privilege, db_name=grant.db_name)
        role.drop()
    utility.create_user(user, password)
    role = Role(user)
    role.create()
    role.add_user(user)
    for privilege in GLOBAL:
        role.grant("Global", "*", privilege, db_name="*")
    for privilege in COLLECTION:
        role.grant("Collection", "*", privilege, db_name="*")
    for grant in role.list_grants().groups:
        print(f"{grant.object} {grant.object_name} {grant.privilege} db={grant.db_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
