import Foundation

/// Finds a field of a request body that the decoded value has no place for (a typo such as
/// `replica` would otherwise be dropped silently). It compares the body with the value encoded
/// again: every field the types know comes back when it was given (`null` is not checked).
enum UnknownFields {
    /// The path of the first unknown field, in the form error responses use (`ports[0].nmae`).
    static func first(in body: Data, decoded: some Encodable) -> String? {
        let encoder = JSONEncoder()
        guard let given = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]),
            let again = try? JSONSerialization.jsonObject(
                with: encoder.encode(decoded), options: [.fragmentsAllowed])
        else { return nil }
        return first(given, known: again, path: "")
    }

    private static func first(_ given: Any, known: Any, path: String) -> String? {
        if let object = given as? [String: Any] {
            let knownObject = known as? [String: Any] ?? [:]
            for key in object.keys.sorted() {
                guard let value = object[key], !(value is NSNull) else { continue }
                let field = path.isEmpty ? key : path + "." + key
                guard let knownValue = knownObject[key] else { return field }
                if let found = first(value, known: knownValue, path: field) { return found }
            }
        } else if let array = given as? [Any], let knownArray = known as? [Any] {
            for (index, value) in array.enumerated() where index < knownArray.count {
                if let found = first(value, known: knownArray[index], path: path + "[\(index)]") {
                    return found
                }
            }
        }
        return nil
    }
}
