import CNetCDF

/// A dimension as found in a file.
public struct NetCDFDimension: Equatable, Sendable {
    public let name: String
    public let length: Int
    public let isUnlimited: Bool
}

/// A group of a file (the root group is "/"). Classic files have only the root.
public struct NetCDFGroup: Sendable {
    public let file: NetCDFFile
    let id: Int32
    /// Full path, "/" for the root, "/params" for a child.
    public let path: String

    init(file: NetCDFFile, id: Int32, path: String) {
        self.file = file
        self.id = id
        self.path = path
    }

    private var where_: String { path == "/" ? file.path : "\(file.path) group \(path)" }

    // MARK: Dimensions

    /// Dimensions defined in this group (not its parents).
    public func dimensions() throws -> [NetCDFDimension] {
        try NetCDFLock.run {
            try file.ensureOpen()
            var n: Int32 = 0
            try check(nc_inq_dimids(id, &n, nil, 0), where_, nil, "list dimensions")
            var ids = [Int32](repeating: 0, count: Int(n))
            try check(nc_inq_dimids(id, &n, &ids, 0), where_, nil, "list dimensions")
            return try ids.map { try dimension(id: $0) }
        }
    }

    /// The dimension of that name, visible from this group (own or a parent's), or nil.
    public func dimension(named name: String) throws -> NetCDFDimension? {
        try NetCDFLock.run {
            try file.ensureOpen()
            var dimid: Int32 = 0
            let status = nc_inq_dimid(id, name, &dimid)
            if status == NC_EBADDIM { return nil }
            try check(status, where_, nil, "find dimension '\(name)'")
            return try dimension(id: dimid)
        }
    }

    func dimension(id dimid: Int32) throws -> NetCDFDimension {
        var buf = [CChar](repeating: 0, count: Int(NC_MAX_NAME) + 1)
        var len = 0
        try check(nc_inq_dim(id, dimid, &buf, &len), where_, nil, "read dimension \(dimid)")
        var nUnlim: Int32 = 0
        nc_inq_unlimdims(id, &nUnlim, nil)
        var unlim = [Int32](repeating: -1, count: max(1, Int(nUnlim)))
        if nUnlim > 0 { nc_inq_unlimdims(id, &nUnlim, &unlim) }
        // Classic files: nc_inq_unlimdims may not see a parent's; also ask nc_inq_unlimdim.
        var single: Int32 = -1
        nc_inq_unlimdim(file.ncid, &single)
        let isUnlimited = unlim.contains(dimid) || single == dimid
        return NetCDFDimension(name: cName(buf), length: len, isUnlimited: isUnlimited)
    }

    /// Defines a dimension; `length == nil` makes it unlimited.
    @discardableResult
    public func defineDimension(_ name: String, length: Int?) throws -> NetCDFDimension {
        try NetCDFLock.run {
            try file.defineMode()
            var dimid: Int32 = 0
            try check(nc_def_dim(id, name, length ?? 0, &dimid), where_, nil, "define dimension '\(name)'")
            return NetCDFDimension(name: name, length: length ?? 0, isUnlimited: length == nil)
        }
    }

    // MARK: Variables

    /// Variables of this group, in file order.
    public func variables() throws -> [NetCDFVariable] {
        try NetCDFLock.run {
            try file.ensureOpen()
            var n: Int32 = 0
            try check(nc_inq_varids(id, &n, nil), where_, nil, "list variables")
            var ids = [Int32](repeating: 0, count: Int(n))
            try check(nc_inq_varids(id, &n, &ids), where_, nil, "list variables")
            return try ids.map { try NetCDFVariable(group: self, id: $0) }
        }
    }

    /// The variable of that name, or nil.
    public func findVariable(_ name: String) throws -> NetCDFVariable? {
        try NetCDFLock.run {
            try file.ensureOpen()
            var varid: Int32 = 0
            let status = nc_inq_varid(id, name, &varid)
            if status == NC_ENOTVAR { return nil }
            try check(status, where_, name, "find variable")
            return try NetCDFVariable(group: self, id: varid)
        }
    }

    /// The variable of that name; a missing one is an error naming file and variable.
    public func variable(_ name: String) throws -> NetCDFVariable {
        guard let v = try findVariable(name) else {
            throw NetCDFError(path: where_, variable: name, operation: "find variable", code: NC_ENOTVAR, message: "no such variable")
        }
        return v
    }

    /// Defines a variable over named dimensions (visible from this group).
    /// `chunks` sets the chunk shape (NetCDF-4); `deflate` 1...9 compresses
    /// (with the shuffle filter); `fletcher32` adds the checksum filter.
    @discardableResult
    public func defineVariable(_ name: String, type: NetCDFType, dimensions: [String], chunks: [Int]? = nil,
                               deflate: Int? = nil, fletcher32: Bool = false) throws -> NetCDFVariable {
        try NetCDFLock.run {
            try file.defineMode()
            var dimids: [Int32] = []
            for d in dimensions {
                var dimid: Int32 = 0
                try check(nc_inq_dimid(id, d, &dimid), where_, name, "define variable: dimension '\(d)'")
                dimids.append(dimid)
            }
            var varid: Int32 = 0
            try check(nc_def_var(id, name, type.raw, Int32(dimids.count), dimids, &varid), where_, name, "define variable")
            if let c = chunks {
                guard c.count == dimensions.count, !dimensions.isEmpty else {
                    throw NetCDFError(path: where_, variable: name, operation: "define chunking",
                                      message: "chunk shape \(c) does not match \(dimensions.count) dimensions")
                }
                try check(nc_def_var_chunking(id, varid, NC_CHUNKED, c), where_, name, "define chunking")
            }
            if let level = deflate {
                try check(nc_def_var_deflate(id, varid, 1, 1, Int32(level)), where_, name, "define deflate")
            }
            if fletcher32 {
                try check(nc_def_var_fletcher32(id, varid, NC_FLETCHER32), where_, name, "define fletcher32")
            }
            return try NetCDFVariable(group: self, id: varid)
        }
    }

    // MARK: Groups

    /// Child groups, in file order.
    public func groups() throws -> [NetCDFGroup] {
        try NetCDFLock.run {
            try file.ensureOpen()
            var n: Int32 = 0
            try check(nc_inq_grps(id, &n, nil), where_, nil, "list groups")
            var ids = [Int32](repeating: 0, count: Int(n))
            try check(nc_inq_grps(id, &n, &ids), where_, nil, "list groups")
            return try ids.map { gid in
                var buf = [CChar](repeating: 0, count: Int(NC_MAX_NAME) + 1)
                try check(nc_inq_grpname(gid, &buf), where_, nil, "read group name")
                return NetCDFGroup(file: file, id: gid, path: childPath(cName(buf)))
            }
        }
    }

    /// The child group of that name, or nil.
    public func group(named name: String) throws -> NetCDFGroup? {
        try NetCDFLock.run {
            try file.ensureOpen()
            var gid: Int32 = 0
            let status = nc_inq_grp_ncid(id, name, &gid)
            if status == NC_ENOGRP || status == NC_ENOTNC4 { return nil }
            try check(status, where_, nil, "find group '\(name)'")
            return NetCDFGroup(file: file, id: gid, path: childPath(name))
        }
    }

    /// Defines a child group (NetCDF-4 only).
    public func defineGroup(_ name: String) throws -> NetCDFGroup {
        try NetCDFLock.run {
            try file.defineMode()
            var gid: Int32 = 0
            try check(nc_def_grp(id, name, &gid), where_, nil, "define group '\(name)'")
            return NetCDFGroup(file: file, id: gid, path: childPath(name))
        }
    }

    private func childPath(_ name: String) -> String { path == "/" ? "/\(name)" : "\(path)/\(name)" }

    // MARK: Attributes (the group's own, global for the root)

    public func attributes() throws -> [String: NetCDFAttribute] {
        try NetCDFLock.run { try readAttributes(file: file, ncid: id, varid: cnc_global(), where: where_, variable: nil) }
    }

    public func attribute(_ name: String) throws -> NetCDFAttribute? {
        try NetCDFLock.run { try readAttribute(file: file, ncid: id, varid: cnc_global(), name: name, where: where_, variable: nil) }
    }

    /// Deletes the group's attribute of that name.
    public func deleteAttribute(_ name: String) throws {
        try NetCDFLock.run {
            try file.defineMode()
            try check(nc_del_att(id, cnc_global(), name), where_, nil, "delete attribute '\(name)'")
        }
    }

    public func setAttribute(_ name: String, _ value: NetCDFAttribute) throws {
        try NetCDFLock.run { try writeAttribute(file: file, ncid: id, varid: cnc_global(), name: name, value: value, where: where_, variable: nil) }
    }
}
